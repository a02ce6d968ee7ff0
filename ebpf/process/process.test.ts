// Loads the process sensor into the running kernel through the real helper and checks
// the records it streams. Needs root (CAP_BPF + CAP_PERFMON); a helper that cannot be
// built or loaded fails these tests, it never skips them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HeaderOffset,
  ProcessExecOffset,
  ProcessExitOffset,
  ProcessForkOffset,
  RECORD_SIZE,
  RecordType,
} from '../../src/ingest/generated/events.js';

const EBPF_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HELPER = join(EBPF_DIR, 'build', 'bpfwasm-helper');

// ---- a small, self-contained reader for the PROTOCOL.md frame stream ----

const MAGIC = 0x31465742;
const FRAME_HEADER = 24;
const MAX_PAYLOAD = 1 << 20;
const Kind = { HELLO: 1, EVENTS: 2, STATS: 3, READY: 4, LOG: 5 } as const;
const Stat = { RING_DROPS: 1, RING_SUBMITTED: 2, RECORDS_WRITTEN: 3, PROG_RUN_COUNT: 4, PROG_RUN_TIME_NS: 5 } as const;

interface Rec {
  type: number;
  pid: number;
  tgid: number;
  cpu: number;
  timestampNs: bigint;
  comm: string;
  buf: Buffer;
}
interface StatRec { kind: number; sensor: number; index: number; cpu: number; value: bigint }
interface StatsFrame { stats: StatRec[]; receivedBefore: Map<number, number> }

class FrameReader {
  pending: Buffer = Buffer.alloc(0);
  nextSeq = 0;
  errors: string[] = [];
  kinds: number[] = [];
  json: { kind: number; value: any }[] = [];
  records: Rec[] = [];
  received = new Map<number, number>();
  statsFrames: StatsFrame[] = [];

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= FRAME_HEADER) {
      const h = this.pending;
      const length = h.readUInt32LE(8);
      if (h.readUInt32LE(0) !== MAGIC || h.readUInt16LE(4) !== 1 || length > MAX_PAYLOAD) {
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
      this.kinds.push(kind);
      this.frame(kind, count, recordType, payload);
    }
  }

  private frame(kind: number, count: number, recordType: number, payload: Buffer): void {
    if (kind === Kind.HELLO || kind === Kind.READY || kind === Kind.LOG) {
      this.json.push({ kind, value: JSON.parse(payload.toString('utf8')) });
    } else if (kind === Kind.EVENTS) {
      const size = RECORD_SIZE[recordType] ?? 0;
      if (!size || payload.length !== count * size) {
        this.errors.push(`EVENTS type ${recordType}: ${payload.length} bytes for ${count} records`);
        return;
      }
      for (let off = 0; off < payload.length; off += size) this.record(recordType, payload.subarray(off, off + size));
      this.received.set(recordType, (this.received.get(recordType) ?? 0) + count);
    } else if (kind === Kind.STATS) {
      const stats: StatRec[] = [];
      for (let i = 0; i < count; i++) {
        const o = i * 16;
        stats.push({
          kind: payload.readUInt16LE(o), sensor: payload.readUInt16LE(o + 2), index: payload.readUInt16LE(o + 4),
          cpu: payload.readUInt16LE(o + 6), value: payload.readBigUInt64LE(o + 8),
        });
      }
      this.statsFrames.push({ stats, receivedBefore: new Map(this.received) });
    } else {
      this.errors.push(`unknown frame kind ${kind}`);
    }
  }

  private record(recordType: number, buf: Buffer): void {
    if (buf.readUInt16LE(HeaderOffset.type) !== recordType || buf.readUInt16LE(HeaderOffset.size) !== buf.length) {
      this.errors.push(`record header does not match its EVENTS frame (type ${recordType})`);
    }
    const comm = buf.subarray(HeaderOffset.comm, HeaderOffset.comm + 16);
    const nul = comm.indexOf(0);
    this.records.push({
      type: recordType,
      pid: buf.readUInt32LE(HeaderOffset.pid),
      tgid: buf.readUInt32LE(HeaderOffset.tgid),
      cpu: buf.readUInt32LE(HeaderOffset.cpu),
      timestampNs: buf.readBigUInt64LE(HeaderOffset.timestamp_ns),
      comm: comm.subarray(0, nul < 0 ? 16 : nul).toString('latin1'),
      buf,
    });
  }
}

// ---- running the helper ----

interface Exit { code: number | null; signal: NodeJS.Signals | null }

class HelperRun {
  readonly proc: ChildProcess;
  readonly reader = new FrameReader();
  stderr = '';
  readonly exited: Promise<Exit>;

  constructor(args: string[]) {
    this.proc = spawn(HELPER, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (chunk: Buffer) => this.reader.push(chunk));
    this.proc.stderr!.on('data', (chunk: Buffer) => { this.stderr += chunk.toString('utf8'); });
    this.exited = new Promise((res) => this.proc.on('close', (code, signal) => res({ code, signal })));
  }

  /** Poll `probe` until it returns a value; fail with `what` and the helper's stderr after timeoutMs. */
  async waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (Date.now() > deadline || this.proc.exitCode !== null) {
        throw new Error(`timed out waiting for ${what}; helper exit ${this.proc.exitCode}, stderr: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  waitReady(): Promise<any> {
    return this.waitFor('READY', () => this.reader.json.find((j) => j.kind === Kind.READY)?.value);
  }

  async stop(how: 'stdin' | 'SIGTERM'): Promise<Exit> {
    if (how === 'stdin') this.proc.stdin!.end();
    else this.proc.kill('SIGTERM');
    return this.exited;
  }
}

function u32(r: Rec, offset: number): number {
  return r.buf.readUInt32LE(offset);
}

/** Run a uniquely named copy of /bin/sh so its comm identifies it in the record stream. */
function runShCopy(dir: string, name: string, script: string): { child: ChildProcess; exited: Promise<Exit> } {
  const path = join(dir, name);
  copyFileSync('/bin/sh', path);
  const child = spawn(path, ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise<Exit>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return { child, exited };
}

let tmp: string;
let helper: HelperRun;
let ready: any;
let nameSeq = 0;
// Unique per run and at most 15 characters, so it survives comm truncation.
const uniqueName = () => `bw${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}${nameSeq++}`.slice(0, 15);

beforeAll(async () => {
  // Fails (does not skip) when the build or the toolchain is broken.
  execFileSync('make', ['-s', '-C', EBPF_DIR], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (!existsSync(HELPER)) throw new Error(`${HELPER} was not built`);
  tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-process-'));
  helper = new HelperRun(['--sensors', 'process', '--poll-ms', '5', '--stats-ms', '200']);
  ready = await helper.waitReady();
});

afterAll(async () => {
  if (helper && helper.proc.exitCode === null) await helper.stop('SIGTERM');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('process sensor', () => {
  it('announces its programs and record types, then READY with timings', () => {
    const hello = helper.reader.json[0];
    expect(helper.reader.kinds[0]).toBe(Kind.HELLO);
    expect(hello?.value).toMatchObject({
      protocol: 1,
      pid: helper.proc.pid,
      sensors: [{
        id: 0, name: 'process', programs: ['handle_fork', 'handle_exec', 'handle_exit'],
        record_types: [RecordType.process_fork, RecordType.process_exec, RecordType.process_exit],
      }],
    });
    expect(ready.sensors).toEqual(['process']);
    expect(ready.load_ms).toBeGreaterThan(0);
    expect(ready.attach_ms).toBeGreaterThan(0);
  });

  it('records fork, exec and exit of a process that exits with status 7', async () => {
    const name = uniqueName();
    const started = process.hrtime.bigint();
    const { child, exited } = runShCopy(tmp, name, 'sleep 0.05; exit 7');
    const pid = child.pid!;
    expect((await exited).code).toBe(7);
    const elapsedNs = process.hrtime.bigint() - started;

    const find = (type: number) => () => helper.reader.records.find((r) => r.type === type && r.tgid === pid && r.comm === name);
    const exec = await helper.waitFor('process_exec', find(RecordType.process_exec));
    const exit = await helper.waitFor('process_exit', find(RecordType.process_exit));
    const fork = await helper.waitFor('process_fork', () => helper.reader.records.find(
      (r) => r.type === RecordType.process_fork && u32(r, ProcessForkOffset.child_tgid) === pid));

    expect(exec.pid).toBe(pid);
    expect(u32(exec, ProcessExecOffset.ppid)).toBe(process.pid);

    expect(exit.pid).toBe(pid);
    expect(u32(exit, ProcessExitOffset.ppid)).toBe(process.pid);
    expect(u32(exit, ProcessExitOffset.exit_code)).toBe(7);
    expect(u32(exit, ProcessExitOffset.exit_signal)).toBe(0);
    const lifetime = exit.buf.readBigUInt64LE(ProcessExitOffset.lifetime_ns);
    expect(lifetime).toBeGreaterThanOrEqual(50_000_000n); // the script sleeps 50 ms
    expect(lifetime).toBeLessThanOrEqual(elapsedNs);
    expect(exit.timestampNs).toBeGreaterThan(exec.timestampNs);

    // The parent (this node process) forked it: the header describes the parent.
    expect(fork.tgid).toBe(process.pid);
    expect(u32(fork, ProcessForkOffset.child_pid)).toBe(pid);
    expect(fork.timestampNs).toBeLessThan(exec.timestampNs);
  });

  it('reports the signal of a process killed by SIGKILL', async () => {
    const name = uniqueName();
    const { child, exited } = runShCopy(tmp, name, 'read line');
    const pid = child.pid!;
    await helper.waitFor('process_exec of the victim', () => helper.reader.records.find(
      (r) => r.type === RecordType.process_exec && r.tgid === pid && r.comm === name));
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');

    const exit = await helper.waitFor('process_exit', () => helper.reader.records.find(
      (r) => r.type === RecordType.process_exit && r.tgid === pid));
    expect(u32(exit, ProcessExitOffset.exit_signal)).toBe(9);
    expect(u32(exit, ProcessExitOffset.exit_code)).toBe(0);
    expect(exit.comm).toBe(name);
  });

  it('sends STATS whose counters match the records streamed, with no drops', async () => {
    const seen = helper.reader.statsFrames.length;
    await helper.waitFor('two more STATS frames', () => helper.reader.statsFrames.length >= seen + 2);
    expect(helper.reader.errors).toEqual([]);

    for (const { stats, receivedBefore } of helper.reader.statsFrames) {
      for (const type of [RecordType.process_fork, RecordType.process_exec, RecordType.process_exit]) {
        const written = stats.filter((s) => s.kind === Stat.RECORDS_WRITTEN && s.index === type);
        expect(written).toHaveLength(1);
        expect(written[0]!.sensor).toBe(0xffff);
        expect(Number(written[0]!.value)).toBe(receivedBefore.get(type) ?? 0);
      }
      const sum = (kind: number) => stats.filter((s) => s.kind === kind).reduce((a, s) => a + s.value, 0n);
      expect(sum(Stat.RING_DROPS)).toBe(0n);
      const totalReceived = [...receivedBefore.values()].reduce((a, n) => a + n, 0);
      expect(sum(Stat.RING_SUBMITTED)).toBeGreaterThanOrEqual(BigInt(totalReceived));
    }

    // Run as root, so BPF_ENABLE_STATS is on: every program reports runs.
    const last = helper.reader.statsFrames.at(-1)!.stats;
    const runs = last.filter((s) => s.kind === Stat.PROG_RUN_COUNT && s.sensor === 0);
    expect(runs.map((s) => s.index).sort()).toEqual([0, 1, 2]);
    for (const r of runs) expect(r.value).toBeGreaterThan(0n);
    expect(last.filter((s) => s.kind === Stat.PROG_RUN_TIME_NS && s.sensor === 0)).toHaveLength(3);
  });
});

describe('helper lifecycle', () => {
  for (const how of ['stdin', 'SIGTERM'] as const) {
    it(`exits 0 with a final STATS frame when stopped by ${how === 'stdin' ? 'closing stdin' : 'SIGTERM'}`, async () => {
      const run = new HelperRun(['--sensors', 'process', '--poll-ms', '5', '--stats-ms', '60000']);
      await run.waitReady();
      const exit = await run.stop(how);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(run.stderr).toBe('');
      expect(run.reader.errors).toEqual([]);
      expect(run.reader.kinds.slice(0, 2)).toEqual([Kind.HELLO, Kind.READY]);
      expect(run.reader.kinds.at(-1)).toBe(Kind.STATS);
    });
  }

  it('rejects an unknown sensor with exit code 1 and one stderr line', async () => {
    const run = new HelperRun(['--sensors', 'nosuch']);
    const exit = await run.exited;
    expect(exit.code).toBe(1);
    expect(run.stderr).toMatch(/^bpfwasm-helper: unknown sensor 'nosuch' in --sensors; known sensors: [a-z,]+\n$/);
    expect(run.stderr.trim().split(': ').at(-1)!.split(',')).toContain('process');
    expect(run.reader.kinds).toEqual([]);
  });

  // Missing privileges (exit 3) are covered unconditionally in test/integration/helper-lifecycle.test.ts.
});
