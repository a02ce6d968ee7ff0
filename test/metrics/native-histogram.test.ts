import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketIndex, NATIVE_MAX_BUCKETS, NATIVE_SCHEMA, NativeHistogram, sparseBuckets,
} from '../../src/metrics/native-histogram.js';
import { SeriesStore } from '../../src/metrics/store.js';

const observed = (...values: number[]) => {
  const h = new NativeHistogram();
  for (const v of values) h.observe(v);
  return h;
};

describe('native histograms', () => {
  it('puts 0, 1, 1.5, 3 and -2 in the buckets worked out by hand (schema 3)', () => {
    // Bucket i holds (2^((i-1)/8), 2^(i/8)]: 1 → 0; 1.5 ∈ (2^(4/8), 2^(5/8)] = (1.414, 1.542] → 5;
    // 3 ∈ (2^(12/8), 2^(13/8)] = (2.828, 3.084] → 13; |-2| = 2^(8/8) is a bound → 8; 0 → zero bucket.
    const h = observed(0, 1, 1.5, 3, -2);
    expect(h.schema).toBe(3);
    expect(h.zeroCount).toBe(1);
    expect(sparseBuckets(h.positive)).toEqual({ spans: [0, 1, 4, 1, 7, 1], deltas: [1, 0, 0] });
    expect(sparseBuckets(h.negative)).toEqual({ spans: [8, 1], deltas: [1] });
  });

  it('fills gaps of up to two empty buckets with zero deltas instead of a new span', () => {
    // 1.2 ∈ (2^(2/8), 2^(3/8)] = (1.189, 1.297] → 3: two empty buckets (1, 2) after bucket 0.
    expect(sparseBuckets(observed(1, 1, 1.2).positive)).toEqual({ spans: [0, 4], deltas: [2, -2, 0, 1] });
    // 1.5 → 5: three empty buckets, a new span.
    expect(sparseBuckets(observed(1, 1.5).positive)).toEqual({ spans: [0, 1, 4, 1], deltas: [1, 0] });
  });

  it('puts each power of two on the upper bound of its bucket, at every schema', () => {
    fc.assert(fc.property(fc.integer({ min: -120, max: 120 }), fc.integer({ min: -4, max: 8 }), (k, schema) => {
      expect(bucketIndex(2 ** k, schema)).toBe(Math.ceil(k * 2 ** schema) + 0); // + 0: not -0
    }));
  });

  it('agrees with log2 away from bucket bounds', () => {
    fc.assert(fc.property(fc.double({ min: 1e-30, max: 1e30, noNaN: true }), (v) => {
      const exact = Math.log2(v) * 2 ** NATIVE_SCHEMA;
      fc.pre(Math.abs(exact - Math.round(exact)) > 1e-6);
      expect(bucketIndex(v, NATIVE_SCHEMA)).toBe(Math.ceil(exact) + 0);
    }));
  });

  it('halves the resolution once the buckets would exceed the limit', () => {
    // At schema 3, 2^-10 → -80 and 2^11 → 88: 169 buckets wide. At schema 2: -40 and 44, the
    // second span 83 buckets after the first one's end (-39).
    const h = observed(2 ** -10, 2 ** 11);
    expect(NATIVE_MAX_BUCKETS).toBeLessThan(169);
    expect(h.schema).toBe(2);
    expect(sparseBuckets(h.positive)).toEqual({ spans: [-40, 1, 83, 1], deltas: [1, 0] });
  });

  it('keeps native buckets only for observed histograms, and forgets a freed series', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 8, nativeHistograms: true });
    const h = s.declare('e', { name: 'h_seconds', help: 'h', kind: 'histogram', labelNames: ['k'], buckets: [1] });
    const r = s.declare('runtime', { name: 'r_seconds', help: 'r', kind: 'histogram', labelNames: [], buckets: [1] });
    s.setHistogram(s.series(r, []), [1, 2], 3, 2);
    const a = s.series(h, ['a']);
    s.observe(a, 1);
    s.observe(a, 1);
    expect([...s.native!.families]).toEqual([h]);
    expect(sparseBuckets(s.native!.get(a)!.positive).deltas).toEqual([2]);
    s.free([a]);
    const b = s.series(h, ['b']);
    expect(b).toBe(a); // the id is reused…
    s.observe(b, 3);
    expect(sparseBuckets(s.native!.get(b)!.positive)).toEqual({ spans: [13, 1], deltas: [1] }); // …the buckets are not
  });

  it('keeps nothing when native histograms are off', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 8 });
    const h = s.declare('e', { name: 'h_seconds', help: 'h', kind: 'histogram', labelNames: [], buckets: [1] });
    s.observe(s.series(h, []), 1);
    expect(s.native).toBeUndefined();
  });
});
