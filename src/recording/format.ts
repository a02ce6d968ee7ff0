// The recording file of `bpfwasm events --record` (docs/RECORDING.md): the helper's frame
// protocol (ebpf/PROTOCOL.md) with recording-only frame kinds for the header, resolver answers,
// arrival times, losses and the end. Pure: the encoder builds frames, the decoder checks a
// hostile file frame by frame with every size bounded before it is used.
import { BpfwasmError } from '../errors.js';
import { RECORD_SIZE, SCHEMA_VERSION } from '../ingest/generated/events.js';
import { FRAME_HEADER_SIZE, FRAME_MAGIC, FrameKind, MAX_FRAME_PAYLOAD, PROTOCOL_VERSION } from '../ingest/protocol.js';
import { encodeFrame } from '../ingest/frame-encoder.js';

export const RECORDING_FORMAT = 'bpfwasm-recording';
export const RECORDING_VERSION = 1;

/** Frame kinds of a recording; EVENTS is the helper's own kind, the rest are recording-only. */
export const RecordingKind = {
  EVENTS: FrameKind.EVENTS,
  HEADER: 64,
  NAMES: 65,
  CLOCK: 66,
  LOST: 67,
  END: 68,
} as const;

/** Resolver answers one recording may carry, so a hostile file cannot grow the replay's map without bound. */
export const MAX_RECORDED_NAMES = 1 << 18;
/** Longest name the resolver gives (a cgroup path); longer ones in a file are refused. */
export const MAX_NAME_BYTES = 4096;
const MAX_RESOLVE_KIND = 255;

export interface RecordingHeader {
  format: typeof RECORDING_FORMAT;
  version: number;
  /** SCHEMA_VERSION of ebpf/schema/events.yaml the records were laid out with. */
  schema_version: number;
  /** The collector's version and the largest batch it hands exporters (helper.batchBytes). */
  collector: string;
  max_batch_bytes: number;
  kernel: string;
  arch: string;
  started_unix_ms: number;
  /** What was asked for: record types (empty: all), pid, comm, cgroup, and the limits. */
  filter: { types: string[]; pid: number; comm: string; cgroup: string };
  limits: { events: number; bytes: number; seconds: number };
}

export interface RecordingEnd {
  events: number;
  batches: number;
  lost: number;
  duration_ms: number;
  /** Why the recording stopped: events, bytes, seconds (a limit), interrupted (Ctrl-C) or collector (the stream ended). */
  stopped: string;
}

/** One resolver answer: the name the collector gave `id` of ResolveKind `kind`. */
export interface RecordedName {
  kind: number;
  id: bigint;
  name: string;
}

export type RecordingFrame =
  | { kind: 'header'; header: RecordingHeader }
  | { kind: 'events'; recordType: number; count: number; payload: Uint8Array }
  | { kind: 'names'; names: RecordedName[] }
  | { kind: 'clock'; monotonicNs: bigint }
  | { kind: 'lost'; events: number }
  | { kind: 'end'; end: RecordingEnd };

/** Builds a recording's frames with consecutive sequence numbers, starting at 0. */
export class RecordingEncoder {
  /** The next frame's sequence number; a writer that discards frames it built sets it back. */
  seq = 0;

  header(h: RecordingHeader): Buffer {
    return this.json(RecordingKind.HEADER, h);
  }

  events(recordType: number, payload: Uint8Array, count: number): Buffer {
    return encodeFrame(RecordingKind.EVENTS, payload, this.seq++, count, recordType);
  }

  /** NAMES frames for `names`, as many as keep each within the frame size limit. */
  names(names: readonly RecordedName[]): Buffer {
    const frames: Buffer[] = [];
    let entries: string[] = [];
    let size = 2;
    for (const n of names) {
      const entry = JSON.stringify([n.kind, n.id.toString(), n.name]);
      if (size + entry.length * 3 + 1 > MAX_FRAME_PAYLOAD) {
        frames.push(encodeFrame(RecordingKind.NAMES, Buffer.from(`[${entries.join(',')}]`), this.seq++));
        entries = [];
        size = 2;
      }
      entries.push(entry);
      size += entry.length * 3 + 1; // UTF-8 takes at most 3 bytes per UTF-16 unit
    }
    if (entries.length) frames.push(encodeFrame(RecordingKind.NAMES, Buffer.from(`[${entries.join(',')}]`), this.seq++));
    return Buffer.concat(frames);
  }

  clock(monotonicNs: bigint): Buffer {
    const payload = Buffer.alloc(8);
    payload.writeBigUInt64LE(monotonicNs);
    return encodeFrame(RecordingKind.CLOCK, payload, this.seq++);
  }

  lost(events: number): Buffer {
    return this.json(RecordingKind.LOST, { events });
  }

  end(e: RecordingEnd): Buffer {
    return this.json(RecordingKind.END, e);
  }

  private json(kind: number, value: unknown): Buffer {
    return encodeFrame(kind, Buffer.from(JSON.stringify(value)), this.seq++);
  }
}

function invalid(at: number, why: string): never {
  throw new BpfwasmError('RECORDING_INVALID', `recording is invalid at byte ${at}: ${why}`);
}

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max;
const isString = (v: unknown, max = MAX_NAME_BYTES): v is string => typeof v === 'string' && Buffer.byteLength(v) <= max;

function checkHeader(v: unknown, at: number): RecordingHeader {
  const h = v as Partial<RecordingHeader> | null;
  if (typeof h !== 'object' || h === null || h.format !== RECORDING_FORMAT) invalid(at, `the first frame is not a ${RECORDING_FORMAT} header`);
  if (h.version !== RECORDING_VERSION) invalid(at, `recording format version ${String(h.version)}; this bpfwasm reads version ${RECORDING_VERSION}`);
  if (h.schema_version !== SCHEMA_VERSION) {
    invalid(at, `records of event schema version ${String(h.schema_version)}; this bpfwasm has version ${SCHEMA_VERSION}`);
  }
  if (!isUint(h.max_batch_bytes, MAX_FRAME_PAYLOAD) || h.max_batch_bytes === 0) invalid(at, 'max_batch_bytes is not a size of 1 to 1048576');
  if (!isString(h.collector) || !isString(h.kernel) || !isString(h.arch) || !isUint(h.started_unix_ms)) invalid(at, 'the header lacks collector, kernel, arch or started_unix_ms');
  const f = h.filter;
  if (typeof f !== 'object' || f === null || !Array.isArray(f.types) || !f.types.every((t) => isString(t, 64)) || !isUint(f.pid) || !isString(f.comm) || !isString(f.cgroup)) {
    invalid(at, 'the header filter is malformed');
  }
  const l = h.limits;
  if (typeof l !== 'object' || l === null || !isUint(l.events) || !isUint(l.bytes) || !isUint(l.seconds)) invalid(at, 'the header limits are malformed');
  return h as RecordingHeader;
}

function checkNames(v: unknown, at: number): RecordedName[] {
  if (!Array.isArray(v)) invalid(at, 'a NAMES frame is not a list');
  return v.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 3) invalid(at, 'a name is not [kind, "id", "name"]');
    const [kind, id, name] = entry as unknown[];
    if (!isUint(kind, MAX_RESOLVE_KIND) || typeof id !== 'string' || !/^\d{1,20}$/.test(id) || !isString(name)) invalid(at, 'a name is not [kind, "id", "name"]');
    const big = BigInt(id);
    if (big >= 1n << 64n) invalid(at, `name id ${id} does not fit in 64 bits`);
    return { kind, id: big, name };
  });
}

function checkEnd(v: unknown, at: number): RecordingEnd {
  const e = v as Partial<RecordingEnd> | null;
  if (typeof e !== 'object' || e === null || !isUint(e.events) || !isUint(e.batches) || !isUint(e.lost) || !isUint(e.duration_ms) || !isString(e.stopped, 64)) {
    invalid(at, 'the END frame is malformed');
  }
  return e as RecordingEnd;
}

function parseJson(payload: Uint8Array, at: number): unknown {
  try {
    return JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    return invalid(at, 'a JSON frame does not parse');
  }
}

/**
 * Decodes a recording frame by frame. Unlike the live decoder it never resynchronises: a file
 * is not a pipe that can lose bytes, so anything malformed is an error naming its offset.
 * Frames are yielded as views into `bytes`.
 */
export function* decodeRecording(bytes: Uint8Array): Generator<RecordingFrame> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  let seq = 0;
  let ended = false;
  let names = 0;
  while (off < bytes.length) {
    if (ended) invalid(off, 'bytes after the END frame');
    if (bytes.length - off < FRAME_HEADER_SIZE) invalid(off, 'the file ends inside a frame header (cut short?)');
    if (view.getUint32(off, true) !== FRAME_MAGIC) invalid(off, `no frame magic "BWF1"${off === 0 ? ' (not a recording)' : ''}`);
    if (view.getUint16(off + 4, true) !== PROTOCOL_VERSION) invalid(off, `frame protocol version ${view.getUint16(off + 4, true)}, not ${PROTOCOL_VERSION}`);
    const kind = view.getUint16(off + 6, true);
    const length = view.getUint32(off + 8, true);
    const count = view.getUint32(off + 12, true);
    const recordType = view.getUint16(off + 16, true);
    if (view.getUint32(off + 20, true) !== seq) invalid(off, `frame sequence ${view.getUint32(off + 20, true)} where ${seq} was next`);
    if (length > MAX_FRAME_PAYLOAD) invalid(off, `a frame of ${length} bytes, more than ${MAX_FRAME_PAYLOAD}`);
    if (bytes.length - off - FRAME_HEADER_SIZE < length) invalid(off, 'the file ends inside a frame (cut short?)');
    const payload = bytes.subarray(off + FRAME_HEADER_SIZE, off + FRAME_HEADER_SIZE + length);
    if (seq === 0 && kind !== RecordingKind.HEADER) invalid(off, 'the first frame is not the recording header (not a recording)');
    switch (kind) {
      case RecordingKind.HEADER:
        if (seq !== 0) invalid(off, 'a second header');
        yield { kind: 'header', header: checkHeader(parseJson(payload, off), off) };
        break;
      case RecordingKind.EVENTS: {
        const size = recordType < RECORD_SIZE.length ? RECORD_SIZE[recordType]! : 0;
        if (size === 0) invalid(off, `record type ${recordType} is not in event schema version ${SCHEMA_VERSION}`);
        if (count === 0 || length !== count * size) invalid(off, `EVENTS of ${length} bytes is not ${count} records of ${size} bytes`);
        yield { kind: 'events', recordType, count, payload };
        break;
      }
      case RecordingKind.NAMES: {
        const list = checkNames(parseJson(payload, off), off);
        names += list.length;
        if (names > MAX_RECORDED_NAMES) invalid(off, `more than ${MAX_RECORDED_NAMES} resolver answers`);
        yield { kind: 'names', names: list };
        break;
      }
      case RecordingKind.CLOCK:
        if (length !== 8) invalid(off, 'a CLOCK frame is not 8 bytes');
        yield { kind: 'clock', monotonicNs: view.getBigUint64(off + FRAME_HEADER_SIZE, true) };
        break;
      case RecordingKind.LOST: {
        const v = parseJson(payload, off) as { events?: unknown } | null;
        if (typeof v !== 'object' || v === null || !isUint(v.events)) invalid(off, 'a LOST frame is malformed');
        yield { kind: 'lost', events: v.events as number };
        break;
      }
      case RecordingKind.END:
        ended = true;
        yield { kind: 'end', end: checkEnd(parseJson(payload, off), off) };
        break;
      default:
        invalid(off, `frame kind ${kind} is not part of a recording`);
    }
    off += FRAME_HEADER_SIZE + length;
    seq++;
  }
  if (seq === 0) invalid(0, 'the file is empty');
}
