// Whole-node profile at 999 Hz for 10 s while the host is busy and forks constantly: no
// sample may be lost (the stacks travel in the sample ring and are interned by the helper,
// so there is no stack-map hash to collide in), and every process' maps are sent. Needs root
// (CAP_BPF + CAP_PERFMON); a helper that cannot be built or loaded fails, never skips.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperRun, buildHelper, type Exit } from '../../test/support/helper-run.js';

const HZ = 999;
const SECONDS = 10;
const FORK_LOOPS = 4;
const BURNERS = 2;

const load: ChildProcess[] = [];
let run: HelperRun;
let exit: Exit;

beforeAll(async () => {
  buildHelper();
  for (let i = 0; i < FORK_LOOPS; i++) load.push(spawn('sh', ['-c', 'while :; do sh -c :; done'], { stdio: 'ignore', detached: true }));
  for (let i = 0; i < BURNERS; i++) load.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore', detached: true }));
  await new Promise((r) => setTimeout(r, 300));
  run = new HelperRun(['--profile', '--hz', String(HZ), '--seconds', String(SECONDS)]);
  exit = await run.exited;
}, 60_000);

afterAll(() => {
  // Each loop is its own process group: kill the shell and whatever it is forking.
  for (const p of load) if (p.pid) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
});

describe('whole-node profile under a fork-heavy load', () => {
  it('loses no sample and counts every one it took', () => {
    expect(exit, run.stderr).toEqual({ code: 0, signal: null });
    const done = run.done;
    const total = run.profile.samples.reduce((a, s) => a + s.count, 0);
    console.log(`no-loss: ${total} samples, ${new Set(run.profile.samples.map((s) => s.tgid)).size} processes, ` +
      `${run.profile.stacks.size} stacks, errors ${JSON.stringify(done.stack_errors)}`);
    expect(done.stack_errors.lost).toBe(0);
    expect(done.stack_errors.other).toBe(0);
    expect(done.samples).toBe(total);
    // Both CPUs are busy the whole time: close to hz × seconds × CPUs.
    expect(total).toBeGreaterThanOrEqual(0.8 * HZ * SECONDS * done.ncpus);
  });

  it('resolves every stack id a sample refers to, across thousands of short-lived processes', () => {
    const tgids = new Set(run.profile.samples.map((s) => s.tgid));
    expect(tgids.size).toBeGreaterThan(100); // the fork loops really forked
    for (const s of run.profile.samples) {
      for (const id of [s.kernelStackId, s.userStackId]) {
        if (id < 0) expect(id).toBe(-14);
        else expect(run.profile.stacks.get(id)?.length).toBeGreaterThan(0);
      }
    }
    // Every process that lived through the profile has its maps; short-lived ones have them
    // when they were read before exiting, a share that depends on how busy the machine is.
    const longLived = load.map((p) => p.pid!).filter((pid) => tgids.has(pid));
    expect(longLived.length).toBeGreaterThan(0);
    for (const pid of longLived) expect(run.profile.maps.has(pid), `maps of long-lived ${pid}`).toBe(true);
    const withMaps = [...tgids].filter((t) => run.profile.maps.has(t)).length;
    console.log(`no-loss: maps for ${withMaps} of ${tgids.size} processes`);
    expect(withMaps).toBeGreaterThan(longLived.length + 100);
  });
});
