// One slot's results of a wake-up (its batches' statuses and durations, and the flush of its store
// operations) as an entry of the ring (ring.ts) from an exporter thread back to the main thread:
// the normal case needs no message, so the main thread is not woken for it; it reads the entry
// when it is awake anyway (the next frame, a scrape, the watchdog's look). The operations are copied
// once, straight from the instance's buffer into the ring.
// Payload: a 40-byte header {seq, refused, rejectedOps, rejectedCalls, logsDropped, lastError
// bytes, ops bytes, 0, memoryBytes as f64}, then one f64 duration per batch, the operations
// (OP_SIZE bytes each, so still 8-byte aligned), one status byte per batch, the lastError UTF-8.
// The entry's count is the number of batches.
import type { Flush, SlotResults } from './protocol.js';
import type { RingWriter } from './ring.js';

const HEADER = 40;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Results read back from the ring; valid until the next read (a scratch reused for every entry). */
export interface ReadResults {
  seq: number;
  readonly statuses: number[];
  readonly seconds: number[];
  readonly flush: Flush;
}

/**
 * Writes one slot's results as a ring entry. False, with nothing written, if they need a
 * message instead: new series or refusals by metric name (rare, strings), or no room in the ring.
 */
export function putResults(ring: RingWriter, r: SlotResults): boolean {
  const f = r.flush;
  if (f.series.length !== 0 || f.refusedByMetric.length !== 0) return false;
  const n = r.statuses.length;
  const opsAt = HEADER + 8 * n;
  const statusAt = opsAt + f.ops.byteLength;
  const errorAt = statusAt + n;
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  const start = ring.claim(errorAt + 3 * f.lastError.length);
  if (start < 0) return false;
  const data = ring.data;
  const view = new DataView(data.buffer, data.byteOffset + start);
  const errorBytes = f.lastError.length === 0 ? 0 : encoder.encodeInto(f.lastError, data.subarray(start + errorAt)).written;
  view.setUint32(0, r.seq, true);
  view.setUint32(4, f.refused, true);
  view.setUint32(8, f.rejectedOps, true);
  view.setUint32(12, f.rejectedCalls, true);
  view.setUint32(16, f.logsDropped, true);
  view.setUint32(20, errorBytes, true);
  view.setUint32(24, f.ops.byteLength, true);
  view.setUint32(28, 0, true);
  view.setFloat64(32, f.memoryBytes, true);
  for (let b = 0; b < n; b++) {
    view.setFloat64(HEADER + 8 * b, r.seconds[b]!, true);
    data[start + statusAt + b] = r.statuses[b]!;
  }
  data.set(f.ops, start + opsAt);
  ring.publish(r.slot, 0, n, errorAt + errorBytes);
  return true;
}

/** Reads ring entries written by `putResults`, into one scratch object. */
export class ResultsReader {
  private readonly view: DataView;
  private readonly flush: { -readonly [K in keyof Flush]: Flush[K] } = {
    series: [], ops: new Uint8Array(0), refused: 0, refusedByMetric: [], rejectedOps: 0, rejectedCalls: 0, logsDropped: 0, lastError: '', memoryBytes: 0,
  };
  private readonly scratch: ReadResults = { seq: 0, statuses: [], seconds: [], flush: this.flush };

  constructor(ring: SharedArrayBuffer) {
    this.view = new DataView(ring);
  }

  /** The results in `payload` (a view into this reader's ring) of `n` batches; valid until the next call. */
  read(payload: Uint8Array, n: number): ReadResults {
    const view = this.view;
    const at = payload.byteOffset;
    const errorBytes = view.getUint32(at + 20, true);
    const opsBytes = view.getUint32(at + 24, true);
    const opsAt = HEADER + 8 * n;
    const statusAt = opsAt + opsBytes;
    const r = this.scratch;
    r.seq = view.getUint32(at, true);
    r.statuses.length = n;
    r.seconds.length = n;
    for (let b = 0; b < n; b++) {
      r.seconds[b] = view.getFloat64(at + HEADER + 8 * b, true);
      r.statuses[b] = payload[statusAt + b]!;
    }
    const errorAt = statusAt + n;
    const f = this.flush;
    f.ops = payload.subarray(opsAt, statusAt);
    f.refused = view.getUint32(at + 4, true);
    f.rejectedOps = view.getUint32(at + 8, true);
    f.rejectedCalls = view.getUint32(at + 12, true);
    f.logsDropped = view.getUint32(at + 16, true);
    // TextDecoder refuses views of shared memory: copy the (rare) message first.
    f.lastError = errorBytes === 0 ? '' : decoder.decode(payload.slice(errorAt, errorAt + errorBytes));
    f.memoryBytes = view.getFloat64(at + 32, true);
    return r;
  }
}
