// Retired records kept alive for exporters built against them: a retired record with
// `derivedFrom` in the schema is rebuilt per batch from its successor's records, whose prefix
// has the same layout (the schema generator checks it), so such modules keep getting batches.
import { HEADER_SIZE, HeaderOffset, RECORDS, type RecordLayout } from '../../ingest/generated/events.js';

/** Rewrites batches of one record type into the retired layout derived from it, in a reused buffer. */
export class RecordDeriver {
  /** The retired record's id, the type its batches are dispatched as. */
  readonly id: number;
  /** The id of the record it is derived from. */
  readonly sourceId: number;
  private readonly size: number;
  private readonly sourceSize: number;
  /** Byte ranges [start, end) of the retired record's `_pad` fields, zeroed in every record. */
  private readonly pads: readonly number[];
  private buffer = new Uint8Array(0);
  private view = new DataView(this.buffer.buffer);

  constructor(retired: RecordLayout, source: RecordLayout) {
    this.id = retired.id;
    this.sourceId = source.id;
    this.size = retired.size;
    this.sourceSize = source.size;
    this.pads = padRanges(retired);
  }

  /**
   * The batch of `count` source records as `count` retired records: each the first `size`
   * bytes of its source with the header's type and size rewritten and the pads zeroed. The
   * result is a view of a buffer the next call overwrites; a source batch shorter than
   * `count` records is a framing bug upstream and throws.
   */
  derive(payload: Uint8Array, count: number): Uint8Array {
    if (payload.byteLength < count * this.sourceSize) {
      throw new RangeError(`batch of ${payload.byteLength} bytes holds fewer than ${count} records of ${this.sourceSize} bytes`);
    }
    const bytes = count * this.size;
    if (this.buffer.byteLength < bytes) {
      this.buffer = new Uint8Array(Math.max(bytes, this.buffer.byteLength * 2));
      this.view = new DataView(this.buffer.buffer);
    }
    const out = this.buffer;
    const view = this.view;
    const source = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const size = this.size;
    const pads = this.pads;
    let src = 0;
    let dst = 0;
    // Records are multiples of 8 bytes, so 4-byte words copy them whole.
    for (let i = 0; i < count; i++, src += this.sourceSize, dst += size) {
      for (let b = 0; b < size; b += 4) view.setUint32(dst + b, source.getUint32(src + b, true), true);
      view.setUint16(dst + HeaderOffset.type, this.id, true);
      view.setUint16(dst + HeaderOffset.size, size, true);
      for (let p = 0; p < pads.length; p += 2) for (let b = dst + pads[p]!; b < dst + pads[p + 1]!; b++) out[b] = 0;
    }
    return out.subarray(0, bytes);
  }
}

/** A deriver for every retired record the schema derives from another. */
export function recordDerivers(records: readonly RecordLayout[] = RECORDS): RecordDeriver[] {
  const out: RecordDeriver[] = [];
  for (const r of records) {
    const source = r.derivedFrom === undefined ? undefined : records.find((s) => s.id === r.derivedFrom);
    if (source) out.push(new RecordDeriver(r, source));
  }
  return out;
}

/** The gaps between named fields past the header: the generated layouts list only named ones. */
function padRanges(record: RecordLayout): number[] {
  const out: number[] = [];
  let at = HEADER_SIZE;
  for (const f of [...record.fields].sort((a, b) => a.offset - b.offset)) {
    if (f.offset > at) out.push(at, f.offset);
    at = f.offset + f.size;
  }
  if (record.size > at) out.push(at, record.size);
  return out;
}
