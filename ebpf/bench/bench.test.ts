// Loads the benchmark sensor into the running kernel through the real helper, drives it with
// bench/syscall-driver.c and checks the records. Needs root (CAP_BPF + CAP_PERFMON); a helper
// that cannot be built or loaded fails these tests, it never skips them.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameDecoder, parseStats } from '../../src/ingest/frame-decoder.js';
import { BenchSyscallOffset, HeaderOffset, RECORD_SIZE, RecordType } from '../../src/ingest/generated/events.js';
import { SyscallDriver } from '../../test/support/syscall-driver.js';

const EBPF_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HELPER = join(EBPF_DIR, 'build', 'bpfwasm-helper');
const GETPPID = 110; // x86-64
const Stat = { RING_DROPS: 1, RING_SUBMITTED: 2, RECORDS_WRITTEN: 3 } as const;

interface Run {
  records: { nr: number; tgid: number; type: number }[];
  eventsFrames: number;
  stats: { drops: number; submitted: number; written: number };
  stderr: string;
  code: number | null;
}

/** Runs the helper with `args`, lets `during` drive load once READY, then stops it (stdin EOF). */
async function runHelper(args: string[], during: () => Promise<void>): Promise<Run> {
  const proc = spawn(HELPER, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const run: Run = { records: [], eventsFrames: 0, stats: { drops: 0, submitted: 0, written: 0 }, stderr: '', code: null };
  proc.stderr!.on('data', (d) => (run.stderr += d));
  const exited = new Promise<number | null>((ok) => proc.on('close', (code) => ok(code)));
  let ready!: () => void;
  const isReady = new Promise<void>((ok) => (ready = ok));
  const decoder = new FrameDecoder({
    events: (type, payload, count) => {
      run.eventsFrames++;
      const buf = Buffer.from(payload);
      const size = RECORD_SIZE[type]!;
      for (let i = 0; i < count; i++) {
        run.records.push({
          type,
          tgid: buf.readUInt32LE(i * size + HeaderOffset.tgid),
          nr: buf.readUInt32LE(i * size + BenchSyscallOffset.nr),
        });
      }
    },
    stats: (payload, count) => {
      const s = { drops: 0, submitted: 0, written: 0 };
      for (const r of parseStats(payload, count)) {
        if (r.kind === Stat.RING_DROPS) s.drops += r.value;
        if (r.kind === Stat.RING_SUBMITTED) s.submitted += r.value;
        if (r.kind === Stat.RECORDS_WRITTEN && r.index === RecordType.bench_syscall) s.written += r.value;
      }
      run.stats = s;
    },
    control: (kind) => kind === 'ready' && ready(),
  });
  proc.stdout!.on('data', (d: Buffer) => decoder.push(d));
  await Promise.race([isReady, exited.then((code) => { throw new Error(`helper exited ${code} before READY: ${run.stderr}`); })]);
  await during();
  proc.stdin!.end();
  run.code = await exited;
  return run;
}

let tmp: string;
let driver: SyscallDriver;
let pid: number;

beforeAll(async () => {
  // Fails (does not skip) when the build or the toolchain is broken.
  execFileSync('make', ['-s', '-C', EBPF_DIR], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (!existsSync(HELPER)) throw new Error(`${HELPER} was not built`);
  tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-'));
  driver = new SyscallDriver(tmp);
  pid = await driver.pid();
});

afterAll(() => {
  driver?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('bench sensor', () => {
  it('streams one bench_syscall record per syscall of the target process, and nothing else', async () => {
    let calls = 0;
    const run = await runHelper(['--sensors', 'bench', '--set', `bench.tgid=${pid}`], async () => {
      calls = await driver.calls(20_000, 0.25);
    });
    expect(run.code, run.stderr).toBe(0);
    expect(calls).toBe(5000);
    expect(run.records.every((r) => r.type === RecordType.bench_syscall && r.tgid === pid)).toBe(true);
    // The driver's own other syscalls (sleeps, read, write) are records too.
    expect(run.records.filter((r) => r.nr === GETPPID)).toHaveLength(calls);
    expect(run.stats).toEqual({ drops: 0, submitted: run.records.length, written: run.records.length });
  }, 30_000);

  it('records nothing without a target (tgid 0)', async () => {
    const run = await runHelper(['--sensors', 'bench'], async () => {
      await driver.calls(20_000, 0.1);
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.records).toHaveLength(0);
    expect(run.stats.submitted).toBe(0);
  }, 30_000);

  it('--sink null reads and counts the records but sends no EVENTS frame', async () => {
    let calls = 0;
    const run = await runHelper(['--sensors', 'bench', '--set', `bench.tgid=${pid}`, '--sink', 'null'], async () => {
      // 20k records fit the 4 MiB ring even if the helper does not run at all meanwhile.
      calls = await driver.calls(100_000, 0.2);
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.eventsFrames).toBe(0);
    expect(run.stats.drops).toBe(0);
    expect(run.stats.submitted).toBeGreaterThanOrEqual(calls);
    expect(run.stats.written).toBe(run.stats.submitted);
  }, 30_000);

  it('refuses an unknown sink', () => {
    expect(() => execFileSync(HELPER, ['--sensors', 'bench', '--sink', 'file'], { stdio: 'pipe' })).toThrow(/--sink must be stdout or null/);
  });
});
