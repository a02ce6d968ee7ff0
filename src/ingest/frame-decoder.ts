// Streaming decoder for the helper's frames: it cuts the byte stream into frames, checks
// each in O(1), and hands EVENTS payloads on as views (no copy, no per-event work).
// Anything malformed is counted and skipped by scanning for the next magic.
import { bigBuffer } from '../big-buffer.js';
import { RECORD_SIZE } from './generated/events.js';
import {
  FRAME_HEADER_SIZE, FRAME_MAGIC, FrameKind, MAX_FRAME_KIND, MAX_FRAME_PAYLOAD, PROFILE_SAMPLE_SIZE, PROTOCOL_VERSION,
  STAT_RECORD_SIZE, isWellFormedControl,
} from './protocol.js';

export interface FrameHandlers {
  /** `payload` holds `count` records of `recordType`; it is only valid during the call. */
  events(recordType: number, payload: Uint8Array, count: number): void;
  /** `payload` holds `count` 16-byte stat records; only valid during the call. */
  stats(payload: Uint8Array, count: number): void;
  /** HELLO, READY, LOG and PROFILE_DONE frames, parsed from JSON and checked (`isWellFormedControl`). */
  control(kind: ControlKind, message: unknown): void;
  /** PROFILE_SAMPLES, PROFILE_STACKS and PROCESS_MAPS payloads (profile mode); only valid during the call. */
  profile?(kind: number, payload: Uint8Array, count: number): void;
  /** Every frame accepted, after its handler above: its header, for tests and tracing. */
  frame?(header: FrameHeader): void;
}

/** The 24-byte header of a frame (ebpf/PROTOCOL.md). */
export interface FrameHeader {
  kind: number;
  /** Payload bytes. */
  length: number;
  count: number;
  recordType: number;
  flags: number;
  seq: number;
}

export type ControlKind = 'hello' | 'ready' | 'log' | 'profile_done';

const CONTROL: Record<number, ControlKind> = {
  [FrameKind.HELLO]: 'hello',
  [FrameKind.READY]: 'ready',
  [FrameKind.LOG]: 'log',
  [FrameKind.PROFILE_DONE]: 'profile_done',
};

export interface DecoderCounters {
  frames: number;
  /** Frames whose header or payload failed a check. */
  malformed: number;
  /** Bytes skipped while resynchronising. */
  skippedBytes: number;
  /** EVENTS frames of a record type this build does not know (a newer helper). */
  unknownType: number;
  /** Frames missing according to the sequence numbers. */
  lostFrames: number;
  /** A stream that ended in the middle of a frame. */
  truncated: number;
}

const MAGIC_BYTES = Buffer.from([0x42, 0x57, 0x46, 0x31]);
const NOTHING = Buffer.alloc(0);
/** A default-sized frame (helper.batchBytes) fits the carry buffer allocated first. */
const CARRY_MIN_BYTES = 64 << 10;

/** The header at `off` (its magic already matched) is one this decoder reads: version, kind, size. */
function frameHeaderChecks(buf: Buffer, off: number): boolean {
  const kind = buf.readUInt16LE(off + 6);
  return buf.readUInt16LE(off + 4) === PROTOCOL_VERSION && buf.readUInt32LE(off + 8) <= MAX_FRAME_PAYLOAD &&
    kind >= FrameKind.HELLO && kind <= MAX_FRAME_KIND;
}

export class FrameDecoder {
  readonly counters: DecoderCounters = {
    frames: 0, malformed: 0, skippedBytes: 0, unknownType: 0, lostFrames: 0, truncated: 0,
  };
  /**
   * An incomplete frame carried over between chunks, in one buffer of the whole frame's size once
   * its header is in, kept for the next: a frame read in many chunks is copied once, not joined
   * anew with each chunk (a 1 MiB profile frame cost 8 MiB of allocations, fragmenting malloc's heap).
   */
  private carry: Buffer = NOTHING;
  /** Bytes of `carry` filled. */
  private carried = 0;
  private nextSeq = -1;

  constructor(private readonly handlers: FrameHandlers) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carried > 0) {
      // The carried frame's header first, then the rest of the frame it announces.
      let take = Math.min(Math.max(FRAME_HEADER_SIZE - this.carried, 0), chunk.length);
      chunk.copy(this.carry, this.carried, 0, take);
      this.carried += take;
      if (this.carried < FRAME_HEADER_SIZE) return;
      if (this.carry.readUInt32LE(0) === FRAME_MAGIC && frameHeaderChecks(this.carry, 0)) {
        const size = FRAME_HEADER_SIZE + this.carry.readUInt32LE(8);
        this.reserve(size);
        const more = Math.min(size - this.carried, chunk.length - take);
        chunk.copy(this.carry, this.carried, take, take + more);
        this.carried += more;
        take += more;
        if (this.carried < size) return;
      }
      // A whole frame, or bytes kept after a resync that are not one.
      const carried = this.carry.subarray(0, this.carried);
      this.carried = 0;
      const off = this.decode(carried);
      buf = chunk.subarray(take);
      // What the carried bytes left undecoded is scanned again, with the rest of the chunk.
      if (off < carried.length) buf = Buffer.concat([carried.subarray(off), buf]);
    }
    const off = this.decode(buf);
    if (off < buf.length) {
      const rest = buf.subarray(off);
      this.reserve(rest.length >= FRAME_HEADER_SIZE ? FRAME_HEADER_SIZE + rest.readUInt32LE(8) : rest.length);
      rest.copy(this.carry, 0);
      this.carried = rest.length;
    }
  }

  /**
   * Call when the stream ends. A partial frame left over is counted as truncated and its bytes
   * as skipped; whole frames after its start (a corrupt length made it swallow them) are still
   * delivered. Afterwards every byte pushed was either in a delivered frame or counted skipped.
   */
  end(): void {
    while (this.carried > 0) {
      const rest = this.carry.subarray(0, this.carried);
      this.carry = NOTHING;
      this.carried = 0;
      if (rest.length >= MAGIC_BYTES.length && rest.readUInt32LE(0) === FRAME_MAGIC) this.counters.truncated++;
      this.push(rest.subarray(this.resync(rest, 1)));
    }
    this.carry = NOTHING;
    this.nextSeq = -1;
  }

  /** Delivers the whole frames at the start of `buf`; returns where the first incomplete one starts. */
  private decode(buf: Buffer): number {
    let off = 0;
    const end = buf.length;
    while (end - off >= FRAME_HEADER_SIZE) {
      if (buf.readUInt32LE(off) !== FRAME_MAGIC) {
        off = this.resync(buf, off + 1);
        continue;
      }
      if (!frameHeaderChecks(buf, off)) {
        this.counters.malformed++;
        off = this.resync(buf, off + 1);
        continue;
      }
      const kind = buf.readUInt16LE(off + 6);
      const length = buf.readUInt32LE(off + 8);
      if (end - off < FRAME_HEADER_SIZE + length) break; // wait for the rest of the frame
      const count = buf.readUInt32LE(off + 12);
      const recordType = buf.readUInt16LE(off + 16);
      const seq = buf.readUInt32LE(off + 20);
      const payloadStart = off + FRAME_HEADER_SIZE;
      if (!this.deliver(kind, buf, payloadStart, length, count, recordType)) {
        this.counters.malformed++;
        off = this.resync(buf, off + 1);
        continue;
      }
      this.countSeq(seq);
      this.counters.frames++;
      this.handlers.frame?.({ kind, length, count, recordType, flags: buf.readUInt16LE(off + 18), seq });
      off = payloadStart + length;
    }
    return off;
  }

  /** Makes `carry` hold at least `size` bytes, keeping what it carries. */
  private reserve(size: number): void {
    if (this.carry.length >= size) return;
    const bigger = bigBuffer(Math.max(size, CARRY_MIN_BYTES));
    this.carry.copy(bigger, 0, 0, this.carried);
    this.carry = bigger;
  }

  private deliver(kind: number, buf: Buffer, start: number, length: number, count: number, recordType: number): boolean {
    switch (kind) {
      case FrameKind.EVENTS: {
        const size = recordType < RECORD_SIZE.length ? RECORD_SIZE[recordType]! : 0;
        if (size === 0) {
          // Well-formed but unknown: skip it, counted, without losing sync.
          this.counters.unknownType++;
          return true;
        }
        if (length !== count * size) return false;
        this.handlers.events(recordType, buf.subarray(start, start + length), count);
        return true;
      }
      case FrameKind.STATS:
        if (length !== count * STAT_RECORD_SIZE) return false;
        this.handlers.stats(buf.subarray(start, start + length), count);
        return true;
      case FrameKind.PROFILE_SAMPLES:
        if (length !== count * PROFILE_SAMPLE_SIZE) return false;
        this.handlers.profile?.(kind, buf.subarray(start, start + length), count);
        return true;
      case FrameKind.PROFILE_STACKS:
      case FrameKind.PROCESS_MAPS:
        // Variable-size records: their reader checks them.
        this.handlers.profile?.(kind, buf.subarray(start, start + length), count);
        return true;
      default: {
        let message: unknown;
        try {
          message = JSON.parse(buf.toString('utf8', start, start + length));
        } catch {
          return false;
        }
        if (!isWellFormedControl(kind, message)) return false;
        this.handlers.control(CONTROL[kind]!, message);
        return true;
      }
    }
  }

  private countSeq(seq: number): void {
    if (this.nextSeq >= 0 && seq !== this.nextSeq) {
      // A restarted helper begins again at 0; that is a new stream, not a loss.
      if (seq > this.nextSeq) this.counters.lostFrames += seq - this.nextSeq;
    }
    this.nextSeq = (seq + 1) >>> 0;
  }

  /** Finds the next magic at or after `from`; everything before it is counted as skipped. */
  private resync(buf: Buffer, from: number): number {
    const at = buf.indexOf(MAGIC_BYTES, from);
    if (at === -1) {
      // Keep the last 3 bytes: they may be the start of a magic split across chunks.
      const keep = Math.max(from, buf.length - 3);
      this.counters.skippedBytes += keep - (from - 1);
      return keep;
    }
    this.counters.skippedBytes += at - (from - 1);
    return at;
  }
}

/** A decoded stat record (used off the hot path: one per sensor, CPU and program per interval). */
export interface StatRecord {
  kind: number;
  sensor: number;
  index: number;
  cpu: number;
  value: number;
}

export function parseStats(payload: Uint8Array, count: number): StatRecord[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out: StatRecord[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * STAT_RECORD_SIZE;
    out.push({
      kind: view.getUint16(o, true),
      sensor: view.getUint16(o + 2, true),
      index: view.getUint16(o + 4, true),
      cpu: view.getUint16(o + 6, true),
      value: Number(view.getBigUint64(o + 8, true)),
    });
  }
  return out;
}
