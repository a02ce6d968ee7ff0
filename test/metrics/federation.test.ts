import { describe, expect, it } from 'vitest';
import { serializeText } from '../../src/metrics/exposition.js';
import { federationFilter } from '../../src/metrics/federation.js';
import { parseSelector } from '../../src/metrics/selector.js';
import { SeriesStore } from '../../src/metrics/store.js';

function store(): SeriesStore {
  const s = new SeriesStore({ maxSeriesPerOwner: 100, maxLabelValueBytes: 64 });
  const execs = s.declare('t', { name: 'execs_total', help: 'Execs.', kind: 'counter', labelNames: ['comm', 'code'] });
  s.add(s.series(execs, ['sh', '0']), 3);
  s.add(s.series(execs, ['ls', '1']), 1);
  s.add(s.series(execs, ['', '2']), 7); // an empty value is an absent label to Prometheus
  const up = s.declare('t', { name: 'up_seconds', help: 'Up.', kind: 'gauge', labelNames: [] });
  s.set(s.series(up, []), 42);
  const lat = s.declare('t', { name: 'lat_seconds', help: 'Latency.', kind: 'histogram', labelNames: ['comm'], buckets: [0.1, 1] });
  s.observe(s.series(lat, ['sh']), 0.05);
  s.observe(s.series(lat, ['ls']), 5);
  s.declare('t', { name: 'never_total', help: 'No series.', kind: 'counter', labelNames: [] });
  return s;
}

/** The sample lines /federate would write for these selectors. */
function federate(selectors: string[], externalLabels?: [string, string][]): string[] {
  const s = store();
  const text = serializeText(s, { include: federationFilter(s, selectors.map(parseSelector)), externalLabels }).toString();
  return text.split('\n').filter((l) => l && !l.startsWith('#'));
}

describe('federationFilter', () => {
  it.each<[string, string[]]>([
    ['execs_total', ['execs_total{comm="sh",code="0"} 3', 'execs_total{comm="ls",code="1"} 1', 'execs_total{comm="",code="2"} 7']],
    ['{comm="sh"}', [
      'execs_total{comm="sh",code="0"} 3',
      'lat_seconds_bucket{comm="sh",le="0.1"} 1', 'lat_seconds_bucket{comm="sh",le="1"} 1', 'lat_seconds_bucket{comm="sh",le="+Inf"} 1',
      'lat_seconds_sum{comm="sh"} 0.05', 'lat_seconds_count{comm="sh"} 1',
    ]],
    ['execs_total{comm!="sh"}', ['execs_total{comm="ls",code="1"} 1', 'execs_total{comm="",code="2"} 7']],
    ['execs_total{comm=~"s.*|l"}', ['execs_total{comm="sh",code="0"} 3']], // anchored: "ls" is not "l"
    ['execs_total{comm!~"s.*"}', ['execs_total{comm="ls",code="1"} 1', 'execs_total{comm="",code="2"} 7']],
    ['execs_total{comm=~"(?i)SH"}', ['execs_total{comm="sh",code="0"} 3']],
    // A missing label, or an empty value, is "".
    ['execs_total{comm=""}', ['execs_total{comm="",code="2"} 7']],
    ['{__name__=~"execs_total|up_seconds",nolabel=""}',
      ['execs_total{comm="sh",code="0"} 3', 'execs_total{comm="ls",code="1"} 1', 'execs_total{comm="",code="2"} 7', 'up_seconds 42']],
    ['up_seconds{nolabel!=""}', []],
    ['up_seconds{nolabel=~".+"}', []],
    ['up_seconds{nolabel!~"x"}', ['up_seconds 42']],
    // A histogram is three kinds of series: _bucket (with le), _sum and _count.
    ['lat_seconds', []],
    ['lat_seconds_count', ['lat_seconds_count{comm="sh"} 1', 'lat_seconds_count{comm="ls"} 1']],
    ['lat_seconds_sum{comm="ls"}', ['lat_seconds_sum{comm="ls"} 5']],
    ['lat_seconds_bucket{le="+Inf"}', ['lat_seconds_bucket{comm="sh",le="+Inf"} 1', 'lat_seconds_bucket{comm="ls",le="+Inf"} 1']],
    ['{__name__=~"lat_seconds_bucket",le=~"0\\\\.1|1",comm="ls"}', ['lat_seconds_bucket{comm="ls",le="0.1"} 0', 'lat_seconds_bucket{comm="ls",le="1"} 0']],
    // le="" matches what has no le: _sum and _count, not buckets.
    ['{__name__=~"lat_.*",le="",comm="sh"}', ['lat_seconds_sum{comm="sh"} 0.05', 'lat_seconds_count{comm="sh"} 1']],
    ['{le!=""}', [
      'lat_seconds_bucket{comm="sh",le="0.1"} 1', 'lat_seconds_bucket{comm="sh",le="1"} 1', 'lat_seconds_bucket{comm="sh",le="+Inf"} 1',
      'lat_seconds_bucket{comm="ls",le="0.1"} 0', 'lat_seconds_bucket{comm="ls",le="1"} 0', 'lat_seconds_bucket{comm="ls",le="+Inf"} 1',
    ]],
    // No matcher: nothing (as Prometheus); only empty-matching matchers: everything (as Prometheus).
    ['{}', []],
    ['{x=""}', [
      'execs_total{comm="sh",code="0"} 3', 'execs_total{comm="ls",code="1"} 1', 'execs_total{comm="",code="2"} 7', 'up_seconds 42',
      'lat_seconds_bucket{comm="sh",le="0.1"} 1', 'lat_seconds_bucket{comm="sh",le="1"} 1', 'lat_seconds_bucket{comm="sh",le="+Inf"} 1',
      'lat_seconds_sum{comm="sh"} 0.05', 'lat_seconds_count{comm="sh"} 1',
      'lat_seconds_bucket{comm="ls",le="0.1"} 0', 'lat_seconds_bucket{comm="ls",le="1"} 0', 'lat_seconds_bucket{comm="ls",le="+Inf"} 1',
      'lat_seconds_sum{comm="ls"} 5', 'lat_seconds_count{comm="ls"} 1',
    ]],
    ['execs_total{__name__="up_seconds"}', []],
    // job and instance are the scraper's labels, never ours.
    ['execs_total{job=~".+"}', []],
  ])('%s', (selector, lines) => {
    expect(federate([selector])).toEqual(lines);
  });

  it('takes the union of several selectors, each sample once', () => {
    expect(federate(['execs_total{code="0"}', 'execs_total{comm="sh"}', 'up_seconds', 'lat_seconds_count{comm="ls"}'])).toEqual([
      'execs_total{comm="sh",code="0"} 3', 'up_seconds 42', 'lat_seconds_count{comm="ls"} 1',
    ]);
    expect(federate([])).toEqual([]);
  });

  it('writes HELP and TYPE only for families with selected samples', () => {
    const s = store();
    const text = serializeText(s, { include: federationFilter(s, [parseSelector('up_seconds')]) }).toString();
    expect(text).toBe('# HELP up_seconds Up.\n# TYPE up_seconds gauge\nup_seconds 42\n');
  });

  it('adds external labels to samples lacking them, after selection', () => {
    const ext: [string, string][] = [['comm', 'ignored'], ['node', 'n1']];
    expect(federate(['up_seconds', 'execs_total{code="1"}', '{node="n1"}'], ext)).toEqual([
      'execs_total{comm="ls",code="1",node="n1"} 1', 'up_seconds{comm="ignored",node="n1"} 42',
    ]);
  });
});
