// The batch ring (src/exporters/ring.ts): whatever the sizes and however writes and drains
// interleave, every batch put is read once, in order, byte for byte, and a put never
// overwrites what the reader has not freed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ringBuffer, ringMaxPayload, RingReader, RingWriter } from '../../src/exporters/ring.js';

describe('RingWriter / RingReader', () => {
  it('delivers every batch put, in order and intact', () => {
    fc.assert(fc.property(
      fc.integer({ min: 256, max: 4096 }),
      fc.array(fc.tuple(fc.nat(), fc.boolean()), { minLength: 1, maxLength: 300 }),
      (dataBytes, steps) => {
        const sab = ringBuffer(dataBytes);
        const max = ringMaxPayload(sab);
        const writer = new RingWriter(sab);
        const reader = new RingReader(sab);
        const pending: Uint8Array[] = [];
        const put: number[][] = [];
        const got: number[][] = [];
        const drain = () => reader.drain((slot, type, count, payload) => got.push([slot, type, count, ...payload]));
        steps.forEach(([size, drainNow], i) => {
          const payload = Uint8Array.from({ length: size % (max + 1) }, (_, k) => (i * 31 + k) & 0xff);
          pending.push(payload);
          // Batches the ring refuses wait, in order, as the host's overflow does.
          while (pending.length && writer.put(i, i + 1, pending[0]!.length, pending[0]!)) {
            const p = pending.shift()!;
            put.push([i, i + 1, p.length, ...p]);
          }
          if (drainNow) drain();
        });
        for (let guard = 0; pending.length && guard < 1000; guard++) {
          drain();
          while (pending.length && writer.put(0, 1, pending[0]!.length, pending[0]!)) {
            const p = pending.shift()!;
            put.push([0, 1, p.length, ...p]);
          }
        }
        drain();
        expect(pending).toEqual([]);
        expect(got).toEqual(put);
      },
    ), { numRuns: 200 });
  });
});
