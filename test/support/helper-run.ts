// The real helper (ebpf/build/bpfwasm-helper) run by a test: spawned with the test's arguments,
// its stdout decoded as it arrives by the collector's own FrameDecoder, records read by the
// generated layouts of src/ingest/generated/events.ts and profiles by the profiler's
// RawCollector. Shared by the kernel tests in ebpf/<sensor>/ and the tests in test/ that load
// a sensor. Whatever does not follow ebpf/PROTOCOL.md is collected in `errors` (a test asserts
// it is empty); nothing here skips: a helper that cannot be built or loaded fails the test.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FrameDecoder, parseStats, type ControlKind, type FrameHeader, type StatRecord } from '../../src/ingest/frame-decoder.js';
import { HEADER_FIELDS, RECORDS, RECORD_NAME, type FieldLayout } from '../../src/ingest/generated/events.js';
import { FrameKind } from '../../src/ingest/protocol.js';
import { RawCollector } from '../../src/profile/profiler.js';
import type { RawProfile } from '../../src/profile/model.js';

export const EBPF_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ebpf');
export const HELPER = join(EBPF_DIR, 'build', 'bpfwasm-helper');

/** Builds the eBPF objects and the helper (make rebuilds only what changed); throws, never skips. */
export function buildHelper(): void {
  execFileSync('make', ['-s', '-C', EBPF_DIR], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (!existsSync(HELPER)) throw new Error(`${HELPER} was not built`);
}

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

export type FieldValue = number | bigint | string | Buffer;

/** One record of an EVENTS frame: its common header decoded, and the fields of its type. */
export interface EventRecord {
  type: number;
  size: number;
  cpu: number;
  timestampNs: bigint;
  pid: number;
  tgid: number;
  cgroupId: bigint;
  comm: string;
  /** The fields of the record type (after the header) by schema name: u64/s64 bigint, chars string, bytes Buffer. */
  fields: Record<string, FieldValue>;
  /** The record's bytes (a copy). */
  buf: Buffer;
}

/** A STATS frame, with the records of each type received before it (the helper counts what it wrote). */
export interface StatsFrame { stats: StatRecord[]; receivedBefore: Map<number, number> }

const LAYOUTS = new Map(RECORDS.map((r) => [r.id, r.fields]));

/** A NUL-padded kernel string (comm), cut at its first NUL. */
export function cstring(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1');
}

function field(buf: Buffer, f: FieldLayout): FieldValue {
  switch (f.type) {
    case 'u8': return buf.readUInt8(f.offset);
    case 'u16': return buf.readUInt16LE(f.offset);
    case 'u32': return buf.readUInt32LE(f.offset);
    case 's32': return buf.readInt32LE(f.offset);
    case 'u64': return buf.readBigUInt64LE(f.offset);
    case 's64': return buf.readBigInt64LE(f.offset);
    case 'chars': return cstring(buf.subarray(f.offset, f.offset + f.size));
    case 'bytes': return Buffer.from(buf.subarray(f.offset, f.offset + f.size));
  }
}

/** Decodes one record of `type` by its generated layout. */
export function decodeRecord(type: number, bytes: Uint8Array): EventRecord {
  const buf = Buffer.from(bytes);
  const h: Record<string, FieldValue> = {};
  for (const f of HEADER_FIELDS) h[f.name] = field(buf, f);
  const fields: Record<string, FieldValue> = {};
  for (const f of LAYOUTS.get(type) ?? []) fields[f.name] = field(buf, f);
  return {
    type: h.type as number, size: h.size as number, cpu: h.cpu as number, timestampNs: h.timestamp_ns as bigint,
    pid: h.pid as number, tgid: h.tgid as number, cgroupId: h.cgroup_id as bigint, comm: h.comm as string,
    fields, buf,
  };
}

const STREAM_KINDS: ReadonlySet<number> = new Set([FrameKind.HELLO, FrameKind.EVENTS, FrameKind.STATS, FrameKind.READY, FrameKind.LOG]);
const PROFILE_KINDS: ReadonlySet<number> = new Set([
  FrameKind.HELLO, FrameKind.LOG, FrameKind.PROFILE_SAMPLES, FrameKind.PROFILE_STACKS, FrameKind.PROCESS_MAPS, FrameKind.PROFILE_DONE,
]);
/** Deepest stack the helper sends (PERF_MAX_STACK_DEPTH). */
const MAX_STACK_DEPTH = 127;

const NO_DONE = { hz: 0, seconds: 0, duration_ms: 0, ncpus: 0, samples: 0, stack_errors: { kernel_missing: 0, user_missing: 0, lost: 0, other: 0 } };

export interface HelperRunOptions {
  /** Called with each record as it is decoded. */
  onRecord?: (r: EventRecord) => void;
  /** false: records are checked and passed to onRecord but not kept in `records`. */
  keepRecords?: boolean;
  /** Default timeout of waitFor and waitReady (10 s). */
  timeoutMs?: number;
}

/** A helper's frame stream decoded and checked: from a live helper (HelperRun) or a recorded file. */
export class HelperFrames {
  /** Header of every frame, in order. */
  readonly frames: FrameHeader[] = [];
  /** HELLO, READY, LOG and PROFILE_DONE messages, in order. */
  readonly control: { kind: ControlKind; message: any }[] = [];
  readonly records: EventRecord[] = [];
  /** Records received so far, by type. */
  readonly received = new Map<number, number>();
  readonly statsFrames: StatsFrame[] = [];
  private readonly problems: string[] = [];
  private readonly decoder: FrameDecoder;
  private readonly profileMode: boolean;
  private readonly raw = new RawCollector();
  private stackRecords = 0;
  private mapsFrames = 0;

  constructor(args: string[], protected readonly opts: HelperRunOptions = {}) {
    this.profileMode = args.includes('--profile');
    this.decoder = new FrameDecoder({
      events: (type, payload, count) => this.events(type, payload, count),
      stats: (payload, count) => this.statsFrames.push({ stats: parseStats(payload, count), receivedBefore: new Map(this.received) }),
      control: (kind, message) => this.control.push({ kind, message }),
      profile: (kind, payload, count) => this.profileFrame(kind, payload, count),
      frame: (header) => this.frame(header),
    });
  }

  /** Decodes the next bytes of the stream. */
  push(chunk: Buffer): void {
    this.decoder.push(chunk);
  }

  /** The stream ended: a frame cut short counts as truncated. */
  end(): void {
    this.decoder.end();
  }

  /** Frame kinds in order. */
  get kinds(): number[] {
    return this.frames.map((f) => f.kind);
  }

  get hello(): any {
    return this.control.find((c) => c.kind === 'hello')?.message;
  }

  get ready(): any {
    return this.control.find((c) => c.kind === 'ready')?.message;
  }

  get done(): any {
    return this.control.find((c) => c.kind === 'profile_done')?.message;
  }

  /** The profile received so far, as the profiler reads it. */
  get profile(): RawProfile {
    return this.raw.finish(this.done ?? NO_DONE);
  }

  /** Everything that broke the protocol: frames the decoder refused or lost, and the checks below. */
  get errors(): string[] {
    const out = [...this.problems];
    const c = this.decoder.counters;
    for (const k of ['malformed', 'skippedBytes', 'unknownType', 'lostFrames', 'truncated'] as const) {
      if (c[k] > 0) out.push(`decoder: ${k} ${c[k]}`);
    }
    if (this.profileMode) {
      const { stacks, maps } = this.profile;
      if (stacks.size !== this.stackRecords) out.push(`PROFILE_STACKS: ${this.stackRecords} records for ${stacks.size} stack ids (one sent twice)`);
      if (maps.size !== this.mapsFrames) out.push(`PROCESS_MAPS: ${this.mapsFrames} frames for ${maps.size} processes (one sent twice)`);
      for (const [id, ips] of stacks) if (ips.length > MAX_STACK_DEPTH) out.push(`stack ${id}: depth ${ips.length}`);
    }
    return out;
  }

  private frame(h: FrameHeader): void {
    const expected = this.frames.length;
    if (h.seq !== expected) this.problems.push(`seq ${h.seq}, expected ${expected}`);
    if (!(this.profileMode ? PROFILE_KINDS : STREAM_KINDS).has(h.kind)) this.problems.push(`unexpected frame kind ${h.kind}`);
    if (h.flags !== 0 || (h.kind !== FrameKind.EVENTS && h.recordType !== 0)) this.problems.push(`record_type/flags set in kind ${h.kind}`);
    this.frames.push(h);
  }

  private events(type: number, payload: Uint8Array, count: number): void {
    // Only the record types the HELLO announced may arrive.
    const announced = (this.hello?.sensors ?? []).some((s: { record_types: number[] }) => s.record_types.includes(type));
    if (!announced) this.problems.push(`unexpected record type ${type} (${RECORD_NAME[type]})`);
    const size = payload.length / count;
    for (let i = 0; i < count; i++) {
      const r = decodeRecord(type, payload.subarray(i * size, (i + 1) * size));
      if (r.type !== type || r.size !== size) this.problems.push(`record header does not match its EVENTS frame (type ${type})`);
      this.opts.onRecord?.(r);
      if (this.opts.keepRecords !== false) this.records.push(r);
    }
    this.received.set(type, (this.received.get(type) ?? 0) + count);
  }

  private profileFrame(kind: number, payload: Uint8Array, count: number): void {
    if (kind === FrameKind.PROFILE_STACKS) this.stackRecords += count;
    if (kind === FrameKind.PROCESS_MAPS) {
      this.mapsFrames++;
      const reserved = payload.length >= 8 ? Buffer.from(payload.buffer, payload.byteOffset, payload.length).readUInt32LE(4) : 0;
      if (reserved !== 0 || count !== 0) this.problems.push('PROCESS_MAPS: reserved field or count set');
    }
    try {
      this.raw.add(kind, payload, count);
    } catch (err) {
      this.problems.push((err as Error).message);
    }
  }
}

/** The real helper spawned with `args`, its stdout decoded as it arrives. */
export class HelperRun extends HelperFrames {
  readonly proc: ChildProcess;
  readonly exited: Promise<Exit>;
  stderr = '';

  constructor(args: string[], opts: HelperRunOptions = {}) {
    super(args, opts);
    // stdin stays open: its EOF stops the helper (a profile early).
    this.proc = spawn(HELPER, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (chunk: Buffer) => this.push(chunk));
    this.proc.stdout!.on('end', () => this.end());
    this.proc.stderr!.on('data', (chunk: Buffer) => { this.stderr += chunk.toString('utf8'); });
    this.exited = new Promise((res) => this.proc.on('close', (code, signal) => res({ code, signal })));
  }

  /** Polls `probe` until it returns a value; fails with `what` and the helper's stderr after timeoutMs or when it exits. */
  async waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = this.opts.timeoutMs ?? 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (Date.now() > deadline || this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`timed out waiting for ${what}; helper exit ${this.proc.exitCode}, stderr: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Resolves with the READY message. */
  waitReady(timeoutMs = this.opts.timeoutMs ?? 10_000): Promise<any> {
    return this.waitFor('READY', () => this.ready, timeoutMs);
  }

  /** Stops the helper (closing stdin: it sends its last aggregates and a final STATS) and waits for it. */
  stop(how: 'stdin' | 'SIGTERM' = 'stdin'): Promise<Exit> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      if (how === 'stdin') this.proc.stdin!.end();
      else this.proc.kill(how);
    }
    return this.exited;
  }
}
