// Retired records derived for old exporters: every derived process_exec_v1 record must be the
// process_exec record's prefix (header and ppid), relabelled, with its pad zeroed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RecordDeriver, recordDerivers } from '../../../src/exporters/host/derived.js';
import {
  HEADER_FIELDS, HEADER_SIZE, HeaderOffset, ProcessExecOffset, ProcessExecV1Offset, RECORD_SIZE, RECORDS, RecordType,
} from '../../../src/ingest/generated/events.js';

const V1 = RECORD_SIZE[RecordType.process_exec_v1]!;
const V2 = RECORD_SIZE[RecordType.process_exec]!;

function execDeriver(): RecordDeriver {
  const derivers = recordDerivers();
  expect(derivers.map((d) => [d.sourceId, d.id])).toEqual([[RecordType.process_exec, RecordType.process_exec_v1]]);
  return derivers[0]!;
}

/** A batch of v2 records of arbitrary bytes, with a valid type and size in each header. */
const v2Batch = fc.array(fc.uint8Array({ minLength: V2, maxLength: V2 }), { maxLength: 40 }).map((records) => {
  const batch = new Uint8Array(records.length * V2);
  records.forEach((r, i) => {
    batch.set(r, i * V2);
    const view = new DataView(batch.buffer, i * V2);
    view.setUint16(HeaderOffset.type, RecordType.process_exec, true);
    view.setUint16(HeaderOffset.size, V2, true);
  });
  return { batch, count: records.length };
});

describe('RecordDeriver', () => {
  it('the schema derives process_exec_v1 (56 bytes) from process_exec (456 bytes)', () => {
    expect([V1, V2]).toEqual([56, 456]);
    expect([ProcessExecV1Offset.ppid, ProcessExecOffset.ppid]).toEqual([HEADER_SIZE, HEADER_SIZE]);
    expect(RECORDS.find((r) => r.id === RecordType.process_exec_v1)?.derivedFrom).toBe(RecordType.process_exec);
  });

  it('each derived v1 record is its v2 record\'s header and ppid, typed 2, sized 56, pad zero', () => {
    const deriver = execDeriver();
    fc.assert(fc.property(fc.array(v2Batch, { minLength: 1, maxLength: 4 }), (batches) => {
      // Several batches through one deriver: its reused buffer must never leak an earlier batch.
      for (const { batch, count } of batches) {
        const out = deriver.derive(batch, count);
        expect(out.byteLength).toBe(count * V1);
        const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
        for (let i = 0; i < count; i++) {
          const src = batch.subarray(i * V2, i * V2 + V2);
          const dst = out.subarray(i * V1, i * V1 + V1);
          expect(view.getUint16(i * V1 + HeaderOffset.type, true)).toBe(RecordType.process_exec_v1);
          expect(view.getUint16(i * V1 + HeaderOffset.size, true)).toBe(V1);
          for (const f of HEADER_FIELDS.filter((h) => h.name !== 'type' && h.name !== 'size')) {
            expect(dst.subarray(f.offset, f.offset + f.size)).toEqual(src.subarray(f.offset, f.offset + f.size));
          }
          expect(dst.subarray(ProcessExecV1Offset.ppid, ProcessExecV1Offset.ppid + 4)).toEqual(src.subarray(ProcessExecOffset.ppid, ProcessExecOffset.ppid + 4));
          expect([...dst.subarray(ProcessExecV1Offset.ppid + 4, V1)]).toEqual([0, 0, 0, 0]);
        }
      }
    }));
  });

  it('reuses its buffer: a batch no larger than the last allocates nothing', () => {
    const deriver = execDeriver();
    const big = deriver.derive(new Uint8Array(10 * V2), 10);
    const small = deriver.derive(new Uint8Array(3 * V2), 3);
    expect(small.buffer).toBe(big.buffer);
    expect(small.byteLength).toBe(3 * V1);
  });

  it('refuses a batch shorter than its count says, rather than reading past it', () => {
    expect(() => execDeriver().derive(new Uint8Array(V2), 2)).toThrow(/fewer than 2 records of 456 bytes/);
  });
});
