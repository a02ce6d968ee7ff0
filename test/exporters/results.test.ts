// Results back through the ring (src/exporters/results.ts): whatever the statuses, durations,
// operations and error text, and however writes and reads interleave and wrap, every entry the
// writer accepts is read back once, in order and exactly; one it refuses (a full ring, results
// only a message carries) leaves nothing behind, so the caller's message fallback loses nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OP_SIZE } from '../../src/exporters/abi.js';
import type { Flush, SlotResults } from '../../src/exporters/protocol.js';
import { putResults, ResultsReader } from '../../src/exporters/results.js';
import { ringBuffer, RingReader, RingWriter } from '../../src/exporters/ring.js';

function flush(over: Partial<Flush> = {}): Flush {
  return {
    series: [], ops: new Uint8Array(0), refused: 0, refusedByMetric: [], rejectedOps: 0, rejectedCalls: 0, logsDropped: 0,
    lastError: '', memoryBytes: 65536, ...over,
  };
}

function results(slot: number, seq: number, statuses: number[], seconds: number[], f: Flush): SlotResults {
  return { slot, seq, statuses, seconds, flush: f };
}

const ops = (n: number, seed = 1) => Uint8Array.from({ length: n * OP_SIZE }, (_, i) => (i * 7 + seed) & 0xff);

/** What a read gives, as plain data (the reader's scratch is reused and its ops view the ring). */
function plain(slot: number, r: ReturnType<ResultsReader['read']>) {
  const f = r.flush;
  return {
    slot, seq: r.seq, statuses: [...r.statuses], seconds: [...r.seconds],
    flush: { ...f, series: [...f.series], refusedByMetric: [...f.refusedByMetric], ops: Uint8Array.from(f.ops) },
  };
}

function expected(r: SlotResults) {
  return { ...r, statuses: [...r.statuses], seconds: [...r.seconds], flush: { ...r.flush, ops: Uint8Array.from(r.flush.ops) } };
}

function ringPair(dataBytes: number) {
  const sab = ringBuffer(dataBytes);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  const decode = new ResultsReader(sab);
  const readAll = () => {
    const got: ReturnType<typeof plain>[] = [];
    reader.drain((slot, _type, n, payload) => got.push(plain(slot, decode.read(payload, n))));
    return got;
  };
  return { writer, readAll };
}

describe('putResults / ResultsReader', () => {
  const cases: [string, SlotResults][] = [
    ['no batches, empty flush', results(1, 0, [], [], flush())],
    ['one OK batch, no operations', results(2, 1, [0], [0.000125], flush())],
    ['several batches with operations', results(3, 7, [0, 0, 0], [0.001, 0.002, 1e-6], flush({ ops: ops(5) }))],
    ['every status and counter', results(4, 4_000_000_000, [0, 1, 2, 3], [0.5, 0, 0.25, 2], flush({
      refused: 3, rejectedOps: 9, rejectedCalls: 2, logsDropped: 11, memoryBytes: 2 ** 40 + 0.5,
    }))],
    ['an error text, not ASCII', results(5, 2, [1], [0.01], flush({ lastError: 'update: série «x» ✗ refused', ops: ops(1) }))],
  ];
  it.each(cases)('round-trips %s', (_name, r) => {
    const { writer, readAll } = ringPair(4096);
    expect(putResults(writer, r)).toBe(true);
    expect(readAll()).toEqual([expected(r)]);
    expect(readAll()).toEqual([]);
  });

  const refused: [string, SlotResults][] = [
    ['new series (label strings: a message carries them)', results(1, 1, [0], [0.1], flush({ series: [[0, 3, ['a']]] }))],
    ['refusals by metric name', results(1, 1, [0], [0.1], flush({ refused: 1, refusedByMetric: [['m', 1]] }))],
    ['more operations than the ring holds', results(1, 1, [0], [0.1], flush({ ops: ops(4096 / OP_SIZE) }))],
  ];
  it.each(refused)('refuses %s and writes nothing', (_name, r) => {
    const { writer, readAll } = ringPair(4096);
    expect(putResults(writer, r)).toBe(false);
    expect(readAll()).toEqual([]);
    // The ring is intact for what comes next.
    const next = results(2, 2, [0], [0.2], flush({ ops: ops(3) }));
    expect(putResults(writer, next)).toBe(true);
    expect(readAll()).toEqual([expected(next)]);
  });

  it('a full ring refuses, and takes results again once read', () => {
    const { writer, readAll } = ringPair(1024);
    const r = (seq: number) => results(1, seq, [0], [seq / 1000], flush({ ops: ops(8, seq) }));
    const put: SlotResults[] = [];
    let seq = 1;
    while (putResults(writer, r(seq))) put.push(r(seq++));
    expect(put.length).toBeGreaterThan(1);
    expect(writer.fill()).toBeGreaterThan(0.5);
    expect(readAll()).toEqual(put.map(expected));
    expect(writer.fill()).toBe(0);
    expect(putResults(writer, r(seq))).toBe(true);
    expect(readAll()).toEqual([expected(r(seq))]);
  });

  it('every result accepted is read back once, in order, exactly; every one refused is left to the caller', () => {
    const status = fc.constantFrom(0, 1, 2, 3);
    const entry = fc.record({
      slot: fc.integer({ min: 1, max: 50 }),
      seq: fc.nat({ max: 0xffffffff }),
      batches: fc.array(fc.tuple(status, fc.double({ min: 0, max: 10, noNaN: true })), { maxLength: 12 }),
      ops: fc.nat({ max: 40 }),
      refused: fc.nat({ max: 1000 }),
      rejectedOps: fc.nat({ max: 1000 }),
      rejectedCalls: fc.nat({ max: 1000 }),
      logsDropped: fc.nat({ max: 1000 }),
      lastError: fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 })),
      memoryBytes: fc.nat({ max: 2 ** 32 }),
      readAfter: fc.boolean(),
    });
    fc.assert(fc.property(fc.integer({ min: 512, max: 4096 }), fc.array(entry, { minLength: 1, maxLength: 120 }), (dataBytes, entries) => {
      const { writer, readAll } = ringPair(dataBytes);
      const accepted: ReturnType<typeof expected>[] = [];
      const got: ReturnType<typeof plain>[] = [];
      let refusedCount = 0;
      entries.forEach((e, i) => {
        const r = results(e.slot, e.seq, e.batches.map((b) => b[0]), e.batches.map((b) => b[1]), flush({
          ops: ops(e.ops, i), refused: e.refused, rejectedOps: e.rejectedOps, rejectedCalls: e.rejectedCalls,
          logsDropped: e.logsDropped, lastError: e.lastError, memoryBytes: e.memoryBytes,
        }));
        if (putResults(writer, r)) accepted.push(expected(r));
        else refusedCount++;
        if (e.readAfter) got.push(...readAll());
      });
      got.push(...readAll());
      expect(got).toEqual(accepted);
      expect(accepted.length + refusedCount).toBe(entries.length);
    }), { numRuns: 300 });
  });
});
