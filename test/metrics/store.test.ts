import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { familyOfKey, labelValueProblem, seriesKey } from '../../src/metrics/labels.js';
import { exposedNames, SeriesStore } from '../../src/metrics/store.js';

const store = (maxSeriesPerOwner = 100) => new SeriesStore({ maxSeriesPerOwner, maxLabelValueBytes: 8 });

describe('SeriesStore', () => {
  it('interns a label set once and returns the same id', () => {
    const s = store();
    const m = s.declare('e', { name: 'a_total', help: 'h', kind: 'counter', labelNames: ['x'] });
    expect(s.series(m, ['1'])).toBe(s.series(m, ['1']));
    expect(s.series(m, ['1'])).not.toBe(s.series(m, ['2']));
  });

  it('keeps values when the same owner declares the same metric again (exporter reload)', () => {
    const s = store();
    const spec = { name: 'a_total', help: 'h', kind: 'counter' as const, labelNames: ['x'] };
    const id = s.series(s.declare('e', spec), ['1']);
    s.add(id, 5);
    expect(s.series(s.declare('e', spec), ['1'])).toBe(id);
    expect(s.value(id)).toBe(5);
  });

  it.each([
    ['another owner', 'f', { labelNames: ['x'] }, /already declared by e/],
    ['other labels', 'e', { labelNames: ['y'] }, /other labels/],
  ])('refuses a redeclaration by %s', (_n, owner, change, message) => {
    const s = store();
    s.declare('e', { name: 'a_total', help: 'h', kind: 'counter', labelNames: ['x'] });
    expect(() => s.declare(owner, { name: 'a_total', help: 'h', kind: 'counter', ...change })).toThrow(message);
  });

  it.each([
    [{ name: '1bad', kind: 'gauge' }, /must match/],
    [{ name: 'c', kind: 'counter' }, /must end in _total/],
    [{ name: 'g_total', kind: 'gauge' }, /only counters/],
    [{ name: 'h', kind: 'histogram', buckets: [] }, /at least one bucket/],
    [{ name: 'h', kind: 'histogram', buckets: [1, 1] }, /increase strictly/],
    [{ name: 'h', kind: 'histogram', buckets: [1], labelNames: ['le'] }, /`le` label/],
    [{ name: 'g', kind: 'gauge', labelNames: ['__x'] }, /invalid/],
  ] as const)('refuses invalid spec %j', (spec, message) => {
    expect(() => store().declare('e', { help: 'h', labelNames: [], ...spec } as never)).toThrow(message);
  });

  it('refuses and counts series past the owner limit', () => {
    const s = store(2);
    const m = s.declare('e', { name: 'a_total', help: 'h', kind: 'counter', labelNames: ['x'] });
    expect(s.series(m, ['1'])).toBeGreaterThanOrEqual(0);
    expect(s.series(m, ['2'])).toBeGreaterThanOrEqual(0);
    expect(s.series(m, ['3'])).toBe(-1);
    expect(s.series(m, ['4'])).toBe(-1);
    expect(s.refusedSeries('e')).toBe(2);
    expect(s.series(m, ['1'])).toBeGreaterThanOrEqual(0); // known series still resolve
  });

  it('refuses an oversized label value', () => {
    const s = store();
    const m = s.declare('e', { name: 'a_total', help: 'h', kind: 'counter', labelNames: ['x'] });
    expect(() => s.series(m, ['123456789'])).toThrow(/exceeds the 8-byte limit/);
  });

  it('puts histogram observations in the first bucket whose bound is ≥ the value', () => {
    const s = store();
    const h = s.series(s.declare('e', { name: 'h', help: 'h', kind: 'histogram', labelNames: [], buckets: [1, 2, 4] }), []);
    for (const v of [0, 1, 1.5, 2, 3, 4, 100]) s.observe(h, v);
    expect(s.histogram(h)).toEqual({ cumulative: [2, 4, 6, 7], sum: 111.5, count: 7 });
  });
});

describe('SeriesStore expiry and limits', () => {
  const spec = { name: 'a_total', help: 'h', kind: 'counter' as const, labelNames: ['x'] };

  it('finds series idle for longer than a TTL by the store clock', () => {
    const s = store();
    const m = s.declare('e', spec);
    const a = s.series(m, ['a']);
    const b = s.series(m, ['b']);
    s.now = 10;
    s.add(b, 1);
    expect(s.idleSeries('e', 5)).toEqual([a]);
    expect(s.idleSeries('other', 5)).toEqual([]);
  });

  it('drops an owner: its families leave the exposition, the names may be declared again in another shape', () => {
    const s = store(2);
    const m = s.declare('e', spec);
    s.add(s.series(m, ['a']), 3);
    const kept = s.declare('f', { ...spec, name: 'kept_total' });
    s.add(s.series(kept, ['k']), 1);
    s.dropOwner('e');
    expect(s.families.map((f) => f.spec.name)).toEqual(['kept_total']);
    expect(s.family(m)).toBeUndefined();
    expect(() => s.series(m, ['a'])).toThrow(`no metric with id ${m}`);
    expect(s.seriesCount).toBe(1);
    expect(s.seriesOf('e')).toBe(0);
    const again = s.declare('g', { ...spec, labelNames: ['y', 'z'] });
    expect(again).not.toBe(m);
    expect(s.value(s.series(again, ['1', '2']))).toBe(0);
  });

  it('frees series: removed from their family, ids and zeroed slots reused, limits released', () => {
    const s = store(2);
    const m = s.declare('e', spec);
    const a = s.series(m, ['a']);
    s.add(a, 7);
    s.series(m, ['b']);
    expect(s.series(m, ['c'])).toBe(-1);
    s.free([a]);
    expect(s.familyOfSeries(a)).toBeUndefined();
    expect(s.seriesCount).toBe(1);
    const c = s.series(m, ['c']);
    expect(c).toBe(a);
    expect(s.value(c)).toBe(0);
    expect(s.seriesValues[c]).toEqual(['c']);
    expect([...s.family(m)!.series].map((id) => s.seriesLabels[id])).toEqual(['x="b"', 'x="c"']);
    expect(s.series(m, ['a'])).toBe(-1); // the owner is at its limit again
  });

  it('refuses series past the per-metric limit and counts them by metric', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 100, maxLabelValueBytes: 8, maxSeriesPerMetric: 1 });
    const m = s.declare('e', spec);
    const other = s.declare('e', { ...spec, name: 'b_total' });
    expect(s.series(m, ['1'])).toBeGreaterThanOrEqual(0);
    expect(s.series(m, ['2'])).toBe(-1);
    expect(s.series(other, ['1'])).toBeGreaterThanOrEqual(0);
    expect([...s.refusedByMetricName()]).toEqual([['a_total', 1]]);
    expect(s.refusedSeries('e')).toBe(1);
  });
});

// Issue #16: the store under hostile or unlucky exporters.
describe('SeriesStore hardening', () => {
  it('keeps the collector\'s own series outside every exporter\'s series budget (case 1)', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 2, maxSeriesPerMetric: 2, maxLabelValueBytes: 8 });
    const self = s.declare('collector', { name: 'bpfwasm_x_seconds', help: 'h', kind: 'histogram', labelNames: ['exporter'], buckets: [1] });
    const ids = ['a', 'b', 'c', 'd'].map((e) => s.series(self, [e]));
    expect(ids.every((id) => id >= 0)).toBe(true);
    const rt = s.declare('runtime', { name: 'r', help: 'h', kind: 'gauge', labelNames: ['k'] });
    expect([s.series(rt, ['1']), s.series(rt, ['2']), s.series(rt, ['3'])].every((id) => id >= 0)).toBe(true);
    const own = s.declare('e', { name: 'e_total', help: 'h', kind: 'counter', labelNames: ['k'] });
    expect([s.series(own, ['1']), s.series(own, ['2']), s.series(own, ['3'])]).toEqual([expect.any(Number), expect.any(Number), -1]);
    expect(s.refusedSeries('e')).toBe(1);
    expect(s.refusedSeries('collector')).toBe(0);
  });

  it('ignores updates through a refused series (-1) instead of crashing', () => {
    const s = store(0);
    const h = s.declare('e', { name: 'h', help: 'h', kind: 'histogram', labelNames: [], buckets: [1] });
    const c = s.declare('e', { name: 'c_total', help: 'h', kind: 'counter', labelNames: [] });
    const hs = s.series(h, []);
    const cs = s.series(c, []);
    expect([hs, cs]).toEqual([-1, -1]);
    expect(s.observe(hs, 0.5)).toBe(false);
    expect(s.observeBucket(hs, 0, 1)).toBe(false);
    expect(s.addSum(hs, 1)).toBe(false);
    expect(s.add(cs, 1)).toBe(false);
    s.set(cs, 1);
    s.setHistogram(hs, [1], 1, 1);
    expect(s.refusedSeries('e')).toBe(2);
  });

  it.each([
    ['gauge X_count beside histogram X', { name: 'lat', kind: 'histogram', buckets: [1] }, { name: 'lat_count', kind: 'gauge' }, 'lat_count'],
    ['histogram X beside gauge X_sum', { name: 'lat_sum', kind: 'gauge' }, { name: 'lat', kind: 'histogram', buckets: [1] }, 'lat_sum'],
    ['gauge X_bucket beside histogram X', { name: 'x', kind: 'histogram', buckets: [1] }, { name: 'x_bucket', kind: 'gauge' }, 'x_bucket'],
    ['gauge X beside counter X_total (OpenMetrics family X)', { name: 'bpfwasm_process_exec_total', kind: 'counter' },
      { name: 'bpfwasm_process_exec', kind: 'gauge' }, 'bpfwasm_process_exec'],
    ['counter X_total beside gauge X', { name: 'jobs', kind: 'gauge' }, { name: 'jobs_total', kind: 'counter' }, 'jobs'],
    ['gauge X_created beside counter X_total', { name: 'y_total', kind: 'counter' }, { name: 'y_created', kind: 'gauge' }, 'y_created'],
    ['gauge X_created beside histogram X', { name: 'z', kind: 'histogram', buckets: [1] }, { name: 'z_created', kind: 'gauge' }, 'z_created'],
  ] as const)('refuses a %s: both would expose one name (case 8)', (_what, first, second, shared) => {
    for (const owners of [['e', 'f'], ['e', 'e']]) {
      const s = store();
      s.declare(owners[0]!, { help: 'h', labelNames: [], ...first });
      expect(() => s.declare(owners[1]!, { help: 'h', labelNames: [], ...second }))
        .toThrow(expect.objectContaining({ code: 'METRIC_CONFLICT', message: expect.stringContaining(`exposed as ${shared}`) }));
      expect(s.families.map((f) => f.spec.name)).toEqual([first.name]);
    }
  });

  it('lets names go with their owner, so another shape may take them later', () => {
    const s = store();
    s.declare('e', { name: 'lat', help: 'h', kind: 'histogram', labelNames: [], buckets: [1] });
    s.dropOwner('e');
    expect(s.declare('f', { name: 'lat_count', help: 'h', kind: 'gauge', labelNames: [] })).toBeGreaterThanOrEqual(0);
  });

  it('holds reserved names for their owner before it declares them (case 4)', () => {
    const s = store();
    s.reserve('runtime', 'process_resident_memory_bytes', 'gauge');
    s.reserve('runtime', 'nodejs_gc_duration_seconds', 'histogram');
    expect(() => s.declare('e', { name: 'process_resident_memory_bytes', help: 'h', kind: 'gauge', labelNames: [] }))
      .toThrow(/process_resident_memory_bytes is reserved for the collector's own metric/);
    expect(() => s.declare('e', { name: 'nodejs_gc_duration_seconds_count', help: 'h', kind: 'gauge', labelNames: [] }))
      .toThrow(/exposed as nodejs_gc_duration_seconds_count, which the collector's own metric nodejs_gc_duration_seconds already uses/);
    expect(s.declare('runtime', { name: 'process_resident_memory_bytes', help: 'h', kind: 'gauge', labelNames: [] })).toBeGreaterThanOrEqual(0);
    s.reserve('runtime', 'process_resident_memory_bytes', 'gauge'); // again, once declared: still its own
    s.declare('e', { name: 'taken', help: 'h', kind: 'gauge', labelNames: [] });
    expect(() => s.reserve('runtime', 'taken', 'gauge')).toThrow(/metric taken is already declared by e/);
  });

  it.each([
    ['NUL', 'a\u0000b', 'U+0000'], ['CR', 'a\rb', 'U+000D'], ['ESC', '\u001b[31m', 'U+001B'], ['DEL', 'x\u007f', 'U+007F'],
  ])('refuses a label value with %s (case 8)', (_what, value, code) => {
    const s = store();
    const m = s.declare('e', { name: 'g', help: 'h', kind: 'gauge', labelNames: ['x'] });
    expect(() => s.series(m, [value])).toThrow(expect.objectContaining({ code: 'SERIES_INVALID', message: expect.stringContaining(code) }));
    expect(s.seriesCount).toBe(0);
  });

  it('accepts tab, newline, quotes, backslashes and any other Unicode in label values', () => {
    for (const v of ['a\tb', 'a\nb', '"\\', '→é', '\u0085\u2028', '']) expect(labelValueProblem(v)).toBeUndefined();
  });

  it('property: distinct label sets get distinct series keys, and the key names its family', () => {
    const values = fc.array(fc.string({ unit: 'binary', maxLength: 6 }), { minLength: 0, maxLength: 3 });
    fc.assert(fc.property(fc.nat(1000), values, fc.nat(1000), values, (fa, a, fb, b) => {
      const same = fa === fb && a.length === b.length && a.every((v, i) => v === b[i]);
      expect(seriesKey(fa, a) === seriesKey(fb, b)).toBe(same);
      expect(familyOfKey(seriesKey(fa, a))).toBe(fa);
    }), { numRuns: 2000 });
    expect(seriesKey(1, ['a\u0000b', 'c'])).not.toBe(seriesKey(1, ['a', 'b\u0000c']));
  });

  it('refuses an add that would overflow a counter to +Inf, and keeps the value (case 8)', () => {
    const s = store();
    const c = s.series(s.declare('e', { name: 'c_total', help: 'h', kind: 'counter', labelNames: [] }), []);
    expect(s.add(c, 1.5e308)).toBe(true);
    expect(s.add(c, 1.5e308)).toBe(false);
    expect(s.value(c)).toBe(1.5e308);
    const g = s.series(s.declare('e', { name: 'g', help: 'h', kind: 'gauge', labelNames: [] }), []);
    s.add(g, -1.5e308);
    expect(s.add(g, -1.5e308)).toBe(false);
    expect(s.value(g)).toBe(-1.5e308);
  });

  it('refuses an observation or sum add that would overflow a histogram\'s sum or count', () => {
    const s = store();
    const h = s.series(s.declare('e', { name: 'h', help: 'h', kind: 'histogram', labelNames: [], buckets: [1] }), []);
    expect(s.observe(h, 1e308)).toBe(true);
    expect(s.observe(h, 1e308)).toBe(false);
    expect(s.addSum(h, 1e308)).toBe(false);
    expect(s.observeBucket(h, 0, 1.7e308)).toBe(true);
    expect(s.observeBucket(h, 0, 1.7e308)).toBe(false);
    expect(s.histogram(h)).toEqual({ cumulative: [1.7e308, 1.7e308 + 1], sum: 1e308, count: 1.7e308 + 1 });
  });

  it('lists every name a family is exposed under', () => {
    expect(exposedNames('a_total', 'counter')).toEqual(['a', 'a_total', 'a_created']);
    expect(exposedNames('g', 'gauge')).toEqual(['g']);
    expect(exposedNames('h', 'histogram')).toEqual(['h', 'h_bucket', 'h_sum', 'h_count', 'h_created']);
  });
});

describe('SeriesStore.read', () => {
  it('reads a value, per-bucket counts, sum and count of any series through one reused reader', () => {
    const s = store();
    const h = s.series(s.declare('e', { name: 'x_seconds', help: 'h', kind: 'histogram', labelNames: ['k'], buckets: [1, 2, 4] }), ['a']);
    const g = s.series(s.declare('e', { name: 'x_g', help: 'h', kind: 'gauge', labelNames: [] }), []);
    for (const v of [0.5, 1.5, 1.75, 3, 9]) s.observe(h, v);
    s.set(g, -2.5);
    const samples = s.read(h);
    expect([0, 1, 2, 3].map((i) => samples.bucket(i))).toEqual([1, 2, 1, 1]);
    expect([samples.sum(), samples.count()]).toEqual([15.75, 5]);
    expect(s.read(g)).toBe(samples); // the same reader, now at the gauge: nothing allocated per series
    expect(samples.value()).toBe(-2.5);
  });
});
