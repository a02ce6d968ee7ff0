// Profiles a small C workload through the real helper (`--profile`) and checks the frames
// against what the workload does: burn_a ~75% and burn_b ~25% of one pinned CPU. Needs root
// (CAP_BPF + CAP_PERFMON), cc, nm and taskset; a helper that cannot be built or loaded fails
// these tests, it never skips them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameKind as Kind, MAX_FRAME_PAYLOAD as MAX_PAYLOAD } from '../../src/ingest/protocol.js';
import { HelperRun, buildHelper, type Exit } from '../../test/support/helper-run.js';

const HZ = 99;
const SECONDS = 4;

// ---- the workload: burn_a 15 ms, burn_b 5 ms, in a loop, by the monotonic clock ----

const WORKLOAD_C = `
#include <time.h>
static volatile unsigned long sink;
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
/* 2000 iterations per clock read keep the (frame-pointer-less) libc share small. */
__attribute__((noinline)) void burn_a(double until)
{
	while (now() < until)
		for (int i = 0; i < 2000; i++) sink += i;
}
__attribute__((noinline)) void burn_b(double until)
{
	while (now() < until)
		for (int i = 0; i < 2000; i++) sink ^= i;
}
int main(void)
{
	for (;;) {
		double t = now();
		burn_a(t + 0.015);
		burn_b(t + 0.020);
	}
}
`;

interface MapLine { start: bigint; end: bigint; perms: string; offset: bigint; path: string }

function parseMaps(text: string): MapLine[] {
  return text.split('\n').filter(Boolean).map((line) => {
    const [range, perms, offset, , , ...rest] = line.split(/\s+/);
    const [start, end] = range!.split('-').map((x) => BigInt(`0x${x}`));
    return { start: start!, end: end!, perms: perms!, offset: BigInt(`0x${offset}`), path: rest.join(' ') };
  });
}

/** Function symbols of the binary: name → [start, end) as link-time addresses. */
function functionSymbols(binary: string): Map<string, [bigint, bigint]> {
  const out = new Map<string, [bigint, bigint]>();
  for (const line of execFileSync('nm', ['-S', '--defined-only', binary], { encoding: 'utf8' }).split('\n')) {
    const [addr, size, type, name] = line.trim().split(/\s+/);
    if (name && /^[tT]$/.test(type!)) out.set(name, [BigInt(`0x${addr}`), BigInt(`0x${addr}`) + BigInt(`0x${size}`)]);
  }
  return out;
}

let tmp: string;
let workloadPath: string;
let workload: ChildProcess;
let run: HelperRun;
let exit: Exit;

beforeAll(async () => {
  // Fails (does not skip) when the build or the toolchain is broken.
  buildHelper();
  tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-profile-'));
  workloadPath = join(tmp, 'burn');
  writeFileSync(`${workloadPath}.c`, WORKLOAD_C);
  execFileSync('cc', ['-O1', '-fno-omit-frame-pointer', '-o', workloadPath, `${workloadPath}.c`]);
  // taskset execs the workload, so the child's pid is the workload's tgid.
  workload = spawn('taskset', ['-c', '0', workloadPath], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200)); // past exec and into the loop
  run = new HelperRun(['--profile', '--pid', String(workload.pid), '--hz', String(HZ), '--seconds', String(SECONDS)]);
  exit = await run.exited;
}, 30_000);

afterAll(() => {
  workload?.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('profile mode', () => {
  it('exits 0 after HELLO, PROCESS_MAPS, PROFILE_STACKS, PROFILE_SAMPLES and PROFILE_DONE', () => {
    expect(exit, run.stderr).toEqual({ code: 0, signal: null });
    expect(run.stderr).toBe('');
    expect(run.errors).toEqual([]);
    const kinds = run.kinds;
    expect(kinds[0]).toBe(Kind.HELLO);
    expect(kinds.at(-1)).toBe(Kind.PROFILE_DONE);
    // Sections in order: maps (and logs) before stacks, stacks before samples.
    const firstStacks = kinds.indexOf(Kind.PROFILE_STACKS);
    const firstSamples = kinds.indexOf(Kind.PROFILE_SAMPLES);
    expect(firstStacks).toBeGreaterThan(kinds.lastIndexOf(Kind.PROCESS_MAPS));
    expect(firstSamples).toBeGreaterThan(kinds.lastIndexOf(Kind.PROFILE_STACKS));
    expect(kinds.indexOf(Kind.PROFILE_DONE)).toBe(kinds.length - 1);
    for (const { length: size } of run.frames) expect(size).toBeLessThanOrEqual(MAX_PAYLOAD);

    expect(run.control[0]!.message).toMatchObject({
      protocol: 1, pid: run.proc.pid, sensors: [], mode: 'profile',
      profile: { hz: HZ, seconds: SECONDS, pid: workload.pid, cgroup: 0, kernel: true, user: true, include_idle: false },
    });
  });

  it('reports about hz × seconds samples, all from the workload, in PROFILE_DONE', () => {
    const done = run.done;
    const total = run.profile.samples.reduce((a, s) => a + s.count, 0);
    expect(done).toMatchObject({ hz: HZ, seconds: SECONDS, samples: total });
    expect(Object.keys(done.stack_errors).sort()).toEqual(['kernel_missing', 'lost', 'other', 'user_missing']);
    expect(done.stack_errors.lost).toBe(0);
    expect(done.stopped_early).toBe(false);
    expect(done.stack_errors.other).toBe(0);
    expect(done.duration_ms).toBeGreaterThanOrEqual(SECONDS * 1000);
    expect(done.duration_ms).toBeLessThan(SECONDS * 1000 + 500);
    expect(done.ncpus).toBeGreaterThanOrEqual(1);
    expect(Math.abs(total - HZ * SECONDS)).toBeLessThanOrEqual(0.15 * HZ * SECONDS);
    for (const s of run.profile.samples) {
      expect(s.tgid).toBe(workload.pid);
      expect(s.comm).toBe('burn');
      expect(s.count).toBeGreaterThan(0);
    }
  });

  it('sends every stack a sample refers to, and nothing else', () => {
    const referenced = new Set<number>();
    for (const s of run.profile.samples) {
      for (const id of [s.kernelStackId, s.userStackId]) {
        if (id < 0) {
          expect(id).toBe(-14); // -EFAULT: no stack
          continue;
        }
        referenced.add(id);
        expect(run.profile.stacks.get(id), `stack ${id}`).toBeDefined();
        expect(run.profile.stacks.get(id)!.length).toBeGreaterThan(0);
      }
    }
    expect([...run.profile.stacks.keys()].sort()).toEqual([...referenced].sort());
    for (const ips of run.profile.stacks.values()) expect(ips.at(-1)).not.toBe(0n); // trimmed
  });

  it('sends the maps of the workload, with deep user stacks inside its executable mapping', () => {
    const maps = run.profile.maps.get(workload.pid!);
    expect(maps).toBeDefined();
    expect(maps).toContain(workloadPath);
    const text = parseMaps(maps!).filter((m) => m.path === workloadPath && m.perms.includes('x'));
    expect(text).toHaveLength(1);
    const inText = (ip: bigint) => ip >= text[0]!.start && ip < text[0]!.end;

    let userSamples = 0, deep = 0, leafInText = 0;
    for (const s of run.profile.samples) {
      const ips = run.profile.stacks.get(s.userStackId);
      if (!ips) continue;
      userSamples += s.count;
      if (ips.length >= 2) deep += s.count;
      if (inText(ips[0]!)) leafInText += s.count;
    }
    const total = run.done.samples;
    expect(userSamples).toBeGreaterThanOrEqual(0.95 * total);
    expect(deep).toBeGreaterThanOrEqual(0.95 * userSamples); // frame pointers walk past the leaf
    expect(leafInText).toBeGreaterThanOrEqual(0.9 * userSamples);
  });

  it('splits the time 75/25 between burn_a and burn_b (±5 points), via nm and the PIE base', () => {
    const mappings = parseMaps(run.profile.maps.get(workload.pid!)!).filter((m) => m.path === workloadPath);
    // cc builds PIE with the first PT_LOAD at vaddr 0, so the offset-0 mapping's start is the base.
    const base = mappings.find((m) => m.offset === 0n)!.start;
    const syms = functionSymbols(workloadPath);
    const range = (name: string) => syms.get(name)!.map((a) => a + base) as [bigint, bigint];
    const a = range('burn_a'), b = range('burn_b');
    const within = (ip: bigint, [lo, hi]: [bigint, bigint]) => ip >= lo && ip < hi;

    let inA = 0, inB = 0, total = 0;
    for (const s of run.profile.samples) {
      total += s.count;
      // The first burn_* frame from the leaf: the leaf itself may be in clock_gettime.
      for (const ip of run.profile.stacks.get(s.userStackId) ?? []) {
        if (within(ip, a)) { inA += s.count; break; }
        if (within(ip, b)) { inB += s.count; break; }
      }
    }
    expect(inA + inB).toBeGreaterThanOrEqual(0.9 * total);
    const shareA = (100 * inA) / (inA + inB);
    console.log(`profile: ${total} samples, burn_a ${shareA.toFixed(1)}%, burn_b ${(100 - shareA).toFixed(1)}%, attributed ${inA + inB}`);
    expect(shareA).toBeGreaterThanOrEqual(70);
    expect(shareA).toBeLessThanOrEqual(80);
  });
});

describe('profile mode lifecycle', () => {
  it('rejects a pid that does not exist with exit code 1 and one stderr line', async () => {
    const bad = new HelperRun(['--profile', '--pid', '999999999']);
    expect(await bad.exited).toEqual({ code: 1, signal: null });
    expect(bad.stderr).toBe('bpfwasm-helper: no process with pid 999999999\n');
    expect(bad.kinds).toEqual([]);
  });

  it('rejects profile options without --profile and streaming options with it', async () => {
    const noProfile = new HelperRun(['--hz', '99']);
    expect((await noProfile.exited).code).toBe(1);
    expect(noProfile.stderr).toBe('bpfwasm-helper: --hz needs --profile; see --help\n');
    const mixed = new HelperRun(['--profile', '--sensors', 'process']);
    expect((await mixed.exited).code).toBe(1);
    expect(mixed.stderr).toMatch(/^bpfwasm-helper: --sensors is a streaming option.*\n$/);
    const badHz = new HelperRun(['--profile', '--hz', '1001']);
    expect((await badHz.exited).code).toBe(1);
    expect(badHz.stderr).toBe("bpfwasm-helper: --hz must be a number from 1 to 1000, got '1001'\n");
  });

  it('finishes early on SIGUSR1: exit 0 with what was sampled, marked stopped_early', async () => {
    const early = new HelperRun(['--profile', '--seconds', '30', '--hz', '999']);
    const deadline = Date.now() + 5000;
    while (!early.kinds.includes(Kind.HELLO) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 500)); // loaded, attached and sampling
    const started = Date.now();
    early.proc.kill('SIGUSR1');
    expect(await early.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(early.stderr).toBe('');
    expect(early.kinds.at(-1)).toBe(Kind.PROFILE_DONE);
    expect(early.done).toMatchObject({ seconds: 30, stopped_early: true });
    expect(early.done.duration_ms).toBeLessThan(5000);
    expect(early.done.samples).toBe(early.profile.samples.reduce((a, s) => a + s.count, 0));
  });

  for (const how of ['SIGTERM', 'stdin'] as const) {
    it(`stops early on ${how === 'stdin' ? 'stdin EOF' : how}: exit 0 without the result`, async () => {
      const early = new HelperRun(['--profile', '--seconds', '30']);
      const deadline = Date.now() + 5000;
      while (!early.kinds.includes(Kind.HELLO) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 300)); // loaded, attached and sampling
      const started = Date.now();
      if (how === 'stdin') early.proc.stdin!.end();
      else early.proc.kill('SIGTERM');
      expect(await early.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(early.stderr).toBe('');
      expect(early.errors).toEqual([]);
      expect(early.kinds[0]).toBe(Kind.HELLO);
      for (const kind of [Kind.PROFILE_STACKS, Kind.PROFILE_SAMPLES, Kind.PROFILE_DONE]) {
        expect(early.kinds).not.toContain(kind);
      }
    });
  }
});
