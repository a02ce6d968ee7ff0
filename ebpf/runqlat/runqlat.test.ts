// Loads the runqlat sensor into the running kernel through the real helper, creates CPU
// contention and checks the aggregate records it streams. Needs root (CAP_BPF +
// CAP_PERFMON); a helper that cannot be built or loaded fails these tests, never skips.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeaderOffset, RECORD_SIZE, RecordType, RunqlatOffset } from '../../src/ingest/generated/events.js';

const EBPF_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HELPER = join(EBPF_DIR, 'build', 'bpfwasm-helper');
const CGROUP2 = '/sys/fs/cgroup/unified';

// ---- a small reader for the PROTOCOL.md frame stream ----

const MAGIC = 0x31465742;
const FRAME_HEADER = 24;
const Kind = { HELLO: 1, EVENTS: 2, STATS: 3, READY: 4, LOG: 5 } as const;
const STAT_RING_DROPS = 1;
const STAT_MAP_FULL = 6;

interface Agg { timestampNs: bigint; cgroupId: bigint; slot: number; count: bigint; sumNs: bigint; buf: Buffer }
interface StatRec { kind: number; value: bigint }

class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  private nextSeq = 0;
  errors: string[] = [];
  json: { kind: number; value: any }[] = [];
  records: Agg[] = [];
  stats: StatRec[][] = [];

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= FRAME_HEADER) {
      const h = this.pending;
      const length = h.readUInt32LE(8);
      if (h.readUInt32LE(0) !== MAGIC || h.readUInt16LE(4) !== 1) {
        this.errors.push(`bad frame header at seq ${this.nextSeq}`);
        this.pending = Buffer.alloc(0);
        return;
      }
      if (h.length < FRAME_HEADER + length) return;
      const kind = h.readUInt16LE(6);
      const count = h.readUInt32LE(12);
      const recordType = h.readUInt16LE(16);
      const seq = h.readUInt32LE(20);
      if (seq !== this.nextSeq) this.errors.push(`seq ${seq}, expected ${this.nextSeq}`);
      this.nextSeq = seq + 1;
      const payload = Buffer.from(h.subarray(FRAME_HEADER, FRAME_HEADER + length));
      this.pending = h.subarray(FRAME_HEADER + length);
      this.frame(kind, count, recordType, payload);
    }
  }

  private frame(kind: number, count: number, recordType: number, payload: Buffer): void {
    if (kind === Kind.HELLO || kind === Kind.READY || kind === Kind.LOG) {
      this.json.push({ kind, value: JSON.parse(payload.toString('utf8')) });
    } else if (kind === Kind.EVENTS) {
      const size = RECORD_SIZE[recordType] ?? 0;
      if (recordType !== RecordType.runqlat || payload.length !== count * size) {
        this.errors.push(`EVENTS type ${recordType}: ${payload.length} bytes for ${count} records`);
        return;
      }
      for (let off = 0; off < payload.length; off += size) this.record(payload.subarray(off, off + size));
    } else if (kind === Kind.STATS) {
      const stats: StatRec[] = [];
      for (let o = 0; o < count * 16; o += 16) stats.push({ kind: payload.readUInt16LE(o), value: payload.readBigUInt64LE(o + 8) });
      this.stats.push(stats);
    } else {
      this.errors.push(`unknown frame kind ${kind}`);
    }
  }

  private record(buf: Buffer): void {
    this.records.push({
      timestampNs: buf.readBigUInt64LE(HeaderOffset.timestamp_ns),
      cgroupId: buf.readBigUInt64LE(RunqlatOffset.cgroup_id),
      slot: buf.readUInt32LE(RunqlatOffset.slot),
      count: buf.readBigUInt64LE(RunqlatOffset.count),
      sumNs: buf.readBigUInt64LE(RunqlatOffset.sum_ns),
      buf,
    });
  }
}

class HelperRun {
  readonly proc: ChildProcess;
  readonly reader = new FrameReader();
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.proc = spawn(HELPER, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (chunk: Buffer) => this.reader.push(chunk));
    this.proc.stderr!.on('data', (chunk: Buffer) => { this.stderr += chunk.toString('utf8'); });
    this.exited = new Promise((res) => this.proc.on('close', (code) => res(code)));
  }

  async waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (Date.now() > deadline || this.proc.exitCode !== null) {
        throw new Error(`timed out waiting for ${what}; helper exit ${this.proc.exitCode}, stderr: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops by closing stdin: the helper sends the last aggregate records, then a final STATS. */
  async stop(): Promise<number | null> {
    this.proc.stdin!.end();
    return this.exited;
  }
}

// ---- load: `threads` busy threads for `ms` milliseconds, on a 2-CPU machine ----

// Each worker spins on the clock for exactly `ms`; the process exits when they are done.
const BUSY = `
const { Worker } = require('node:worker_threads');
const [threads, ms] = process.argv.slice(1).map(Number);
const end = Date.now() + ms;
for (let i = 0; i < threads; i++) new Worker('let x = 0; while (Date.now() < ' + end + ') x++;', { eval: true });
`;

/** Runs the busy program, optionally first moving itself into the cgroup v2 directory `cgroupDir`. */
function busy(threads: number, ms: number, cgroupDir?: string): Promise<number | null> {
  const node = JSON.stringify(process.execPath);
  const script = `${cgroupDir ? `echo $$ > ${cgroupDir}/cgroup.procs && ` : ''}exec ${node} -e "$0" ${threads} ${ms}`;
  const child = spawn('/bin/sh', ['-c', script, BUSY], { stdio: 'ignore' });
  return new Promise((res) => child.on('close', (code) => res(code)));
}

// Slot s holds waits in (2^(s-1), 2^s] ns (slot 0: 0 and 1 ns), so a slot's records bound their sum.
function checkSlotBounds(r: Agg): void {
  expect(r.count).toBeGreaterThan(0n);
  expect(r.slot).toBeLessThanOrEqual(64);
  const hi = 1n << BigInt(r.slot);
  const lo = r.slot === 0 ? 0n : (1n << BigInt(r.slot - 1)) + 1n;
  expect(r.sumNs).toBeGreaterThanOrEqual(lo * r.count);
  expect(r.sumNs).toBeLessThanOrEqual(hi * r.count);
}

function checkHeader(r: Agg): void {
  expect(r.buf.readUInt16LE(HeaderOffset.type)).toBe(RecordType.runqlat);
  expect(r.buf.readUInt16LE(HeaderOffset.size)).toBe(RECORD_SIZE[RecordType.runqlat]);
  expect(r.buf.readUInt32LE(HeaderOffset.cpu)).toBe(0xffffffff);
  expect(r.buf.readUInt32LE(HeaderOffset.pid)).toBe(0);
  expect(r.buf.readUInt32LE(RunqlatOffset.slot + 4)).toBe(0); // _pad
}

function sum<T>(xs: T[], f: (x: T) => bigint): bigint {
  return xs.reduce((a, x) => a + f(x), 0n);
}

function lastStat(run: HelperRun, kind: number): bigint {
  return sum(run.reader.stats.at(-1)!.filter((s) => s.kind === kind), (s) => s.value);
}

beforeAll(() => {
  execFileSync('make', ['-s', '-C', EBPF_DIR], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (!existsSync(HELPER)) throw new Error(`${HELPER} was not built`);
});

describe('runqlat sensor, whole node', () => {
  let run: HelperRun;
  let loadStartNs: bigint;
  let loadEndNs: bigint;

  beforeAll(async () => {
    run = new HelperRun(['--sensors', 'runqlat', '--aggregate-ms', '100', '--stats-ms', '200']);
    await run.waitFor('READY', () => run.reader.json.find((j) => j.kind === Kind.READY));
    loadStartNs = process.hrtime.bigint();
    expect(await busy(4, 1000)).toBe(0);
    loadEndNs = process.hrtime.bigint();
    // Two aggregate rounds after the load ends, so its last waits are in.
    const seen = run.reader.records.length;
    await run.waitFor('aggregate records after the load', () => {
      const later = run.reader.records.slice(seen).map((r) => r.timestampNs);
      return new Set(later).size >= 2;
    });
    expect(await run.stop()).toBe(0);
  }, 30_000);

  afterAll(() => {
    if (run && run.proc.exitCode === null) run.proc.kill('SIGKILL');
  });

  it('announces the three scheduler programs and the runqlat record', () => {
    expect(run.reader.json[0]?.value).toMatchObject({
      sensors: [{ name: 'runqlat', programs: ['handle_wakeup', 'handle_wakeup_new', 'handle_switch'], record_types: [RecordType.runqlat] }],
    });
    expect(run.stderr).toBe('');
    expect(run.reader.errors).toEqual([]);
  });

  it('streams aggregate records every --aggregate-ms with consistent slots and sums', () => {
    const recs = run.reader.records;
    expect(recs.length).toBeGreaterThan(0);
    for (const r of recs) {
      checkHeader(r);
      checkSlotBounds(r);
      expect(r.cgroupId).toBe(0n); // per_cgroup is off by default
    }
    // One record per key per round: a key never repeats within one read of the map.
    const rounds = new Map<bigint, Set<number>>();
    for (const r of recs) {
      const slots = rounds.get(r.timestampNs) ?? new Set<number>();
      expect(slots.has(r.slot)).toBe(false);
      slots.add(r.slot);
      rounds.set(r.timestampNs, slots);
    }
    // Rounds ~100 ms apart over the 1 s load at least.
    const during = [...rounds.keys()].filter((t) => t >= loadStartNs && t <= loadEndNs);
    expect(during.length).toBeGreaterThanOrEqual(5);
  });

  it('sees the contention of 4 busy threads on 2 CPUs as waits of a scheduler slice', () => {
    const during = run.reader.records.filter((r) => r.timestampNs > loadStartNs && r.timestampNs <= loadEndNs + 300_000_000n);
    // 4 threads on 2 CPUs for 1 s: each thread waits about half the time, in waits of about
    // one slice (~1-3 ms), so there are hundreds of waits of >= 256 us (slot 19 and up).
    const long = during.filter((r) => r.slot >= 19);
    expect(sum(long, (r) => r.count)).toBeGreaterThan(100n);
    // The waits add up to a good part of the threads' 2 CPU-seconds of waiting.
    expect(sum(long, (r) => r.sumNs)).toBeGreaterThan(500_000_000n);
  });

  it('loses nothing: no map-full inserts and no ring drops', () => {
    expect(lastStat(run, STAT_MAP_FULL)).toBe(0n);
    expect(lastStat(run, STAT_RING_DROPS)).toBe(0n);
  });
});

describe('runqlat sensor, per cgroup', () => {
  const dir = join(CGROUP2, `bpfwasm-runqlat-${process.pid}`);
  let run: HelperRun;

  beforeAll(async () => {
    mkdirSync(dir);
    run = new HelperRun(['--sensors', 'runqlat', '--set', 'runqlat.per_cgroup=1', '--aggregate-ms', '100', '--stats-ms', '200']);
    await run.waitFor('READY', () => run.reader.json.find((j) => j.kind === Kind.READY));
    expect(await busy(4, 700, dir)).toBe(0);
    const seen = run.reader.records.length;
    await run.waitFor('aggregate records after the load', () => new Set(run.reader.records.slice(seen).map((r) => r.timestampNs)).size >= 2);
    expect(await run.stop()).toBe(0);
  }, 30_000);

  afterAll(() => {
    if (run && run.proc.exitCode === null) run.proc.kill('SIGKILL');
    // The busy process has exited, so the group is empty and can go.
    if (existsSync(dir)) rmdirSync(dir);
  });

  it('keys the waits by the task\'s cgroup v2 id (the directory\'s inode)', () => {
    const id = BigInt(statSync(dir).ino);
    const ours = run.reader.records.filter((r) => r.cgroupId === id);
    for (const r of ours) {
      checkHeader(r);
      checkSlotBounds(r);
    }
    // 4 threads runnable for 0.7 s on 2 CPUs wait at least 1.4 s in all; a quarter of it is a
    // safe floor (thread start-up eats into the window), in waits of a scheduler slice.
    expect(sum(ours, (r) => r.sumNs)).toBeGreaterThan(350_000_000n);
    expect(sum(ours.filter((r) => r.slot >= 19), (r) => r.count)).toBeGreaterThan(20n);
    // Everything else on the node is keyed by its own cgroup, never 0.
    expect(run.reader.records.every((r) => r.cgroupId !== 0n)).toBe(true);
    // This test process was woken by its timers meanwhile, so its own cgroup is a key too.
    const self = readFileSync('/proc/self/cgroup', 'utf8').match(/^0::(.*)$/m)?.[1] ?? '';
    const selfId = BigInt(statSync(join(CGROUP2, self)).ino);
    expect(run.reader.records.some((r) => r.cgroupId === selfId)).toBe(true);
    expect(lastStat(run, STAT_MAP_FULL)).toBe(0n);
  });
});
