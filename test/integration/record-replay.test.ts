// Record on the real kernel with `bpfwasm events --record`, replay offline through the built-in
// process exporter with `bpfwasm exporters test`: the replay shows exactly what the live
// collector showed for the same events, every time.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRecording } from '../../src/recording/format.js';
import { waitForStreams } from './support/api.js';
import { CLI, ROOT, onlySensors, parseExposition, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { uniqueBinary } from './support/processes.js';

const PROCESS_FAMILIES = ['bpfwasm_process_exec_total', 'bpfwasm_process_exit_total', 'bpfwasm_process_lifetime_seconds'];

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('record and replay on the real kernel', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    c = await startCollector({ helper: { statsMs: 200 }, sensors: onlySensors({ process: {} }) });
    await waitReady(c);
  });

  afterAll(async () => {
    expect(await c.stop()).toBe(0);
  });

  it('the replayed process exposition equals the live one for the recorded events', async () => {
    const sh = uniqueBinary('/bin/sh', 'bwr');
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-rec-'));
    const file = join(dir, 'run.bwrec');
    const rounds = 20;
    const processes = rounds * 3;
    const recorder = spawn(process.execPath, [
      CLI, 'events', '--api', `unix:${c.apiSocket}`, '--record', file, '--comm', sh.comm,
      '--type', 'process_exec,process_exit', '--max-events', String(processes * 2), '--max-seconds', '60',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    recorder.stderr!.on('data', (d) => (said += d));
    const recorded = new Promise<number | null>((ok) => recorder.on('exit', ok));
    await waitForStreams(c, 1);
    // Exits by code 0, code 3 and SIGKILL, with different lifetimes: every label and bucket path.
    spawnSync('/bin/sh', ['-c', `i=0; while [ $i -lt ${rounds} ]; do "$0" -c true; "$0" -c 'sleep 0.01; exit 3'; "$0" -c 'kill -9 $$'; i=$((i+1)); done`, sh.path]);
    expect(await recorded, said).toBe(0);
    expect(said).toMatch(new RegExp(`recorded ${processes * 2} events in \\d+ batches .*lost 0; stopped by events`));

    const frames = [...decodeRecording(readFileSync(file))];
    expect(frames[0]!.kind).toBe('header');
    expect(frames.at(-1)).toMatchObject({ kind: 'end', end: { events: processes * 2, lost: 0, stopped: 'events' } });

    const label = `comm="${sh.comm}"`;
    const live = await waitFor('the live counts', async () => {
      const s = await scrape(c);
      return samples(s, 'bpfwasm_process_exec_total').get(label) === processes
        && [...samples(s, 'bpfwasm_process_exit_total')].filter(([k]) => k.startsWith(label)).reduce((n, [, v]) => n + v, 0) === processes ? s : undefined;
    });
    const liveMine = new Map([...live].filter(([k]) => PROCESS_FAMILIES.some((f) => k.startsWith(`${f}{`) || k.startsWith(`${f}_`)) && k.includes(label)));

    const replayed = cli(['exporters', 'test', join(ROOT, 'exporters/build/process.wasm'), '--replay', file]);
    expect(replayed.status, replayed.stderr).toBe(0);
    expect(replayed.stderr).toContain(`replayed ${processes * 2} events`);
    const replay = parseExposition(replayed.stdout);
    expect(replay).toEqual(liveMine);
    expect(replay.get(`bpfwasm_process_exit_total{${label},exit_code="3"}`)).toBe(rounds);
    expect(replay.get(`bpfwasm_process_exit_total{${label},exit_code="SIGKILL"}`)).toBe(rounds);

    // Deterministic: the same recording gives the same bytes, and a golden file of them passes.
    const again = cli(['exporters', 'test', join(ROOT, 'exporters/build/process.wasm'), '--replay', file]);
    expect(again.stdout).toBe(replayed.stdout);
    const golden = join(dir, 'process.prom');
    expect(cli(['exporters', 'test', join(ROOT, 'exporters/build/process.wasm'), '--replay', file, '--expect', golden, '--update']).status).toBe(0);
    const checked = cli(['exporters', 'test', join(ROOT, 'exporters/build/process.wasm'), '--replay', file, '--expect', golden]);
    expect(checked.status, checked.stdout + checked.stderr).toBe(0);
  }, 120_000);

  it('stops at the byte and time limits with a whole, decodable file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-rec-'));
    const sh = uniqueBinary('/bin/sh', 'bwb');
    const small = join(dir, 'small.bwrec');
    const bounded = spawn(process.execPath, [CLI, 'events', '--api', `unix:${c.apiSocket}`, '--record', small, '--comm', sh.comm, '--max-bytes', '4096'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    bounded.stderr!.on('data', (d) => (said += d));
    const done = new Promise<number | null>((ok) => bounded.on('exit', ok));
    await waitForStreams(c, 1);
    // Far more than 4 KiB of records (each exec and exit is one).
    spawnSync('/bin/sh', ['-c', 'i=0; while [ $i -lt 100 ]; do "$0" -c true; i=$((i+1)); done', sh.path]);
    expect(await done, said).toBe(0);
    expect(said).toContain('stopped by bytes');
    const bytes = readFileSync(small);
    expect(bytes.length).toBeLessThanOrEqual(4096);
    const frames = [...decodeRecording(bytes)];
    expect(frames.at(-1)).toMatchObject({ kind: 'end', end: { stopped: 'bytes' } });
    expect(frames.filter((f) => f.kind === 'events').length).toBeGreaterThan(0);

    const quiet = join(dir, 'quiet.bwrec');
    const started = Date.now();
    const timed = cli(['events', '--api', `unix:${c.apiSocket}`, '--record', quiet, '--comm', 'bwnever', '--max-seconds', '1']);
    expect(timed.status, timed.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect([...decodeRecording(readFileSync(quiet))].map((f) => f.kind)).toEqual(['header', 'end']);
  }, 60_000);
});
