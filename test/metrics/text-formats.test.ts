// Golden tests for both text formats from one store: exact bytes, escaping, NaN/±Inf, the
// +Inf bucket, OpenMetrics family naming and `# EOF`, and federation's include/externalLabels.
import { describe, expect, it } from 'vitest';
import { formatFloat, serializeText, type SerializeOptions } from '../../src/metrics/exposition.js';
import { canonicalFloat, escapeOpenMetricsHelp, serializeOpenMetrics } from '../../src/metrics/openmetrics.js';
import { SeriesStore } from '../../src/metrics/store.js';

function demo(): SeriesStore {
  const s = new SeriesStore({ maxSeriesPerOwner: 100, maxLabelValueBytes: 64 });
  const c = s.declare('x', { name: 'demo_exec_total', help: 'Execs "by" comm\\path\nnext', kind: 'counter', labelNames: ['comm'] });
  const g = s.declare('x', { name: 'demo_temp', help: 'Temp', kind: 'gauge', labelNames: ['at'] });
  const h = s.declare('x', { name: 'demo_seconds', help: 'Latency', kind: 'histogram', labelNames: ['op'], buckets: [0.1, 1, 1e6] });
  const bare = s.declare('x', { name: 'demo_bare_seconds', help: '', kind: 'histogram', labelNames: [], buckets: [2.5] });
  s.add(s.series(c, ['sh']), 3);
  s.add(s.series(c, ['a"b\\c\nd→é']), 1.5);
  s.set(s.series(g, ['nan']), NaN);
  s.set(s.series(g, ['inf']), Infinity);
  s.set(s.series(g, ['-inf']), -Infinity);
  s.set(s.series(g, ['big']), 1e21);
  s.set(s.series(g, ['neg']), -2);
  const hs = s.series(h, ['read']);
  for (const v of [0.05, 0.1, 5, 2e6]) s.observe(hs, v);
  s.observe(s.series(bare, []), 1);
  return s;
}

const TEXT = [
  '# HELP demo_exec_total Execs "by" comm\\\\path\\nnext',
  '# TYPE demo_exec_total counter',
  'demo_exec_total{comm="sh"} 3',
  'demo_exec_total{comm="a\\"b\\\\c\\nd→é"} 1.5',
  '# HELP demo_temp Temp',
  '# TYPE demo_temp gauge',
  'demo_temp{at="nan"} NaN',
  'demo_temp{at="inf"} +Inf',
  'demo_temp{at="-inf"} -Inf',
  'demo_temp{at="big"} 1e+21',
  'demo_temp{at="neg"} -2',
  '# HELP demo_seconds Latency',
  '# TYPE demo_seconds histogram',
  'demo_seconds_bucket{op="read",le="0.1"} 2',
  'demo_seconds_bucket{op="read",le="1"} 2',
  'demo_seconds_bucket{op="read",le="1e+06"} 3',
  'demo_seconds_bucket{op="read",le="+Inf"} 4',
  'demo_seconds_sum{op="read"} 2000005.15',
  'demo_seconds_count{op="read"} 4',
  '# HELP demo_bare_seconds ',
  '# TYPE demo_bare_seconds histogram',
  'demo_bare_seconds_bucket{le="2.5"} 1',
  'demo_bare_seconds_bucket{le="+Inf"} 1',
  'demo_bare_seconds_sum 1',
  'demo_bare_seconds_count 1',
  '',
].join('\n');

const OPENMETRICS = [
  '# TYPE demo_exec counter',
  '# HELP demo_exec Execs \\"by\\" comm\\\\path\\nnext',
  'demo_exec_total{comm="sh"} 3',
  'demo_exec_total{comm="a\\"b\\\\c\\nd→é"} 1.5',
  '# TYPE demo_temp gauge',
  '# HELP demo_temp Temp',
  'demo_temp{at="nan"} NaN',
  'demo_temp{at="inf"} +Inf',
  'demo_temp{at="-inf"} -Inf',
  'demo_temp{at="big"} 1e+21',
  'demo_temp{at="neg"} -2',
  '# TYPE demo_seconds histogram',
  '# HELP demo_seconds Latency',
  'demo_seconds_bucket{op="read",le="0.1"} 2',
  'demo_seconds_bucket{op="read",le="1.0"} 2',
  'demo_seconds_bucket{op="read",le="1e+06"} 3',
  'demo_seconds_bucket{op="read",le="+Inf"} 4',
  'demo_seconds_sum{op="read"} 2000005.15',
  'demo_seconds_count{op="read"} 4',
  '# TYPE demo_bare_seconds histogram',
  '# HELP demo_bare_seconds ',
  'demo_bare_seconds_bucket{le="2.5"} 1',
  'demo_bare_seconds_bucket{le="+Inf"} 1',
  'demo_bare_seconds_sum 1',
  'demo_bare_seconds_count 1',
  '# EOF',
  '',
].join('\n');

describe('text 0.0.4 and OpenMetrics 1.0', () => {
  it('writes text 0.0.4 exactly', () => {
    expect(serializeText(demo()).toString()).toBe(TEXT);
  });

  it('writes OpenMetrics exactly: family without _total, quotes escaped in HELP, canonical le, # EOF', () => {
    expect(serializeOpenMetrics(demo()).toString()).toBe(OPENMETRICS);
  });

  it('announces families without series, and an empty store is just # EOF in OpenMetrics', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 1, maxLabelValueBytes: 8 });
    expect(serializeOpenMetrics(s).toString()).toBe('# EOF\n');
    s.declare('x', { name: 'a_total', help: 'A', kind: 'counter', labelNames: ['k'] });
    expect(serializeText(s).toString()).toBe('# HELP a_total A\n# TYPE a_total counter\n');
    expect(serializeOpenMetrics(s).toString()).toBe('# TYPE a counter\n# HELP a A\n# EOF\n');
  });

  it.each([
    [1, '1.0'], [0, '0.0'], [0.1, '0.1'], [2.5, '2.5'], [100000, '100000.0'], [1e6, '1e+06'], [1234567, '1.234567e+06'],
    [1e-4, '0.0001'], [1e-5, '1e-05'], [1.5e-7, '1.5e-07'], [1e21, '1e+21'], [1e100, '1e+100'], [-3, '-3.0'],
    [Infinity, '+Inf'], [-Infinity, '-Inf'], [NaN, 'NaN'],
  ])('renders le %s canonically as %s', (v, text) => expect(canonicalFloat(v)).toBe(text));

  it.each([
    [1, '1'], [0, '0'], [-0, '0'], [0.1, '0.1'], [100000, '100000'], [1e6, '1e+06'], [1.024e-6, '1.024e-06'], [1e-4, '0.0001'],
    [9.5367431640625e-7, '9.5367431640625e-07'], [123456.5, '123456.5'], [-2.5e-5, '-2.5e-05'], [1e21, '1e+21'],
  ])('writes %s as the Go client does: %s', (v, text) => expect(formatFloat(v)).toBe(text));

  it('gives a bucket the same le in text and OpenMetrics but for the .0 of integral bounds (case 13)', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 8 });
    const bounds = [1.024e-6, 2.5e-5, 1e-4, 0.25, 1, 10, 2 ** 34 / 1e9, 100000, 1e6];
    s.observe(s.series(s.declare('x', { name: 'b_seconds', help: 'h', kind: 'histogram', labelNames: [], buckets: bounds }), []), 1);
    const les = (text: string) => [...text.matchAll(/le="([^"]+)"/g)].map((m) => m[1]!);
    const text = les(serializeText(s).toString());
    const om = les(serializeOpenMetrics(s).toString());
    expect(text).toEqual(['1.024e-06', '2.5e-05', '0.0001', '0.25', '1', '10', '17.179869184', '100000', '1e+06', '+Inf']);
    expect(om).toEqual(text.map((le) => (/^\d+$/.test(le) ? `${le}.0` : le)));
    for (const [i, b] of bounds.entries()) expect(Number(text[i])).toBe(b);
  });

  it('leaves _sum and _count out of OpenMetrics where the sum is no counter (negative bounds or sum), keeps them in text', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 8 });
    const skew = s.declare('x', { name: 'skew_seconds', help: 'h', kind: 'histogram', labelNames: [], buckets: [-1, 1] });
    s.observe(s.series(skew, []), 0.5);
    const lat = s.declare('x', { name: 'lat_seconds', help: 'h', kind: 'histogram', labelNames: ['k'], buckets: [1] });
    s.observe(s.series(lat, ['neg']), -2);
    s.observe(s.series(lat, ['pos']), 2);
    const om = serializeOpenMetrics(s).toString();
    expect(om).not.toMatch(/skew_seconds_(sum|count)|lat_seconds_(sum|count)\{k="neg"\}/);
    expect(om).toContain('lat_seconds_sum{k="pos"} 2\nlat_seconds_count{k="pos"} 1\n');
    expect(om).toContain('skew_seconds_bucket{le="+Inf"} 1\n');
    expect(serializeText(s).toString()).toMatch(/skew_seconds_sum 0.5\nskew_seconds_count 1\n[\s\S]*lat_seconds_sum\{k="neg"\} -2\n/);
  });

  it('escapes backslash, newline and double quote in OpenMetrics HELP', () => {
    expect(escapeOpenMetricsHelp('a\\b\n"c"')).toBe('a\\\\b\\n\\"c\\"');
  });

  describe('federation options, the same in both formats', () => {
    const s = demo();
    const hs = [...s.families[2]!.series][0]!;
    const opts: SerializeOptions = {
      // The `le` offered is the text 0.0.4 one in both formats ("1", not "1.0").
      include: (sid, part, le) => sid === hs && (part === 'count' || le === '1' || le === '+Inf'),
      externalLabels: [['node', 'n"1'], ['op', 'ignored: the series has op']],
    };

    it('text: only the accepted samples, headers only for families with one, external labels added', () => {
      expect(serializeText(s, opts).toString()).toBe([
        '# HELP demo_seconds Latency',
        '# TYPE demo_seconds histogram',
        'demo_seconds_bucket{op="read",node="n\\"1",le="1"} 2',
        'demo_seconds_bucket{op="read",node="n\\"1",le="+Inf"} 4',
        'demo_seconds_count{op="read",node="n\\"1"} 4',
        '',
      ].join('\n'));
    });

    it('OpenMetrics: the same samples, with its le rendering', () => {
      expect(serializeOpenMetrics(s, opts).toString()).toBe([
        '# TYPE demo_seconds histogram',
        '# HELP demo_seconds Latency',
        'demo_seconds_bucket{op="read",node="n\\"1",le="1.0"} 2',
        'demo_seconds_bucket{op="read",node="n\\"1",le="+Inf"} 4',
        'demo_seconds_count{op="read",node="n\\"1"} 4',
        '# EOF',
        '',
      ].join('\n'));
    });

    it('adds external labels to series without labels, and picks sum alone', () => {
      const only = { include: (_sid: number, part: string) => part === 'sum' || part === 'value', externalLabels: [['node', 'n']] as const };
      const text = serializeText(s, only).toString();
      expect(text).toContain('demo_bare_seconds_sum{node="n"} 1\n');
      expect(text).toContain('demo_exec_total{comm="sh",node="n"} 3\n');
      expect(text).not.toContain('_count');
    });
  });
});
