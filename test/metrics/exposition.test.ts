import { describe, expect, it } from 'vitest';
import { escapeHelp, formatValue, serializeText } from '../../src/metrics/exposition.js';
import { SeriesStore } from '../../src/metrics/store.js';

const store = () => new SeriesStore({ maxSeriesPerOwner: 100, maxLabelValueBytes: 64 });

describe('text exposition 0.0.4', () => {
  it('renders counters, gauges and histograms exactly', () => {
    const s = store();
    const c = s.declare('x', { name: 'demo_exec_total', help: 'Execs "by" comm\\path\nnext', kind: 'counter', labelNames: ['comm'] });
    const g = s.declare('x', { name: 'demo_up', help: 'Up', kind: 'gauge', labelNames: [] });
    const h = s.declare('x', { name: 'demo_seconds', help: 'Latency', kind: 'histogram', labelNames: ['op'], buckets: [0.1, 1] });
    s.add(s.series(c, ['sh']), 3);
    s.add(s.series(c, ['a"b\\c\nd']), 1);
    s.set(s.series(g, []), NaN);
    const hs = s.series(h, ['read']);
    s.observe(hs, 0.05);
    s.observe(hs, 0.1); // on the bound: le is inclusive
    s.observe(hs, 5);
    expect(serializeText(s).toString()).toBe([
      '# HELP demo_exec_total Execs "by" comm\\\\path\\nnext',
      '# TYPE demo_exec_total counter',
      'demo_exec_total{comm="sh"} 3',
      'demo_exec_total{comm="a\\"b\\\\c\\nd"} 1',
      '# HELP demo_up Up',
      '# TYPE demo_up gauge',
      'demo_up NaN',
      '# HELP demo_seconds Latency',
      '# TYPE demo_seconds histogram',
      'demo_seconds_bucket{op="read",le="0.1"} 2',
      'demo_seconds_bucket{op="read",le="1"} 2',
      'demo_seconds_bucket{op="read",le="+Inf"} 3',
      'demo_seconds_sum{op="read"} 5.15',
      'demo_seconds_count{op="read"} 3',
      '',
    ].join('\n'));
  });

  it.each([
    [NaN, 'NaN'], [Infinity, '+Inf'], [-Infinity, '-Inf'], [0, '0'], [1.5, '1.5'], [1e21, '1e+21'], [-2, '-2'],
  ])('formats %s as %s', (v, text) => expect(formatValue(v)).toBe(text));

  it('escapes only backslash and newline in HELP', () => {
    expect(escapeHelp('a\\b\n"c"')).toBe('a\\\\b\\n"c"');
  });
});
