import { describe, expect, it } from 'vitest';
import { SeriesStore } from '../../src/metrics/store.js';

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
