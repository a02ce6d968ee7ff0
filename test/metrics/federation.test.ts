import { describe, expect, it } from 'vitest';
import { serializeText } from '../../src/metrics/exposition.js';
import { federationFilter, matchAhead } from '../../src/metrics/federation.js';
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
  const text = serializeText(s, { include: federationFilter(s, selectors.map((t) => parseSelector(t))), externalLabels }).toString();
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

describe('matchAhead', () => {
  /** A family with `n` series whose `comm` values are all distinct. */
  function wideStore(n: number): SeriesStore {
    const s = new SeriesStore({ maxSeriesPerOwner: n, maxLabelValueBytes: 64 });
    const f = s.declare('t', { name: 'wide_total', help: 'Wide.', kind: 'counter', labelNames: ['comm'] });
    for (let i = 0; i < n; i++) s.add(s.series(f, [`${i}`.padStart(60, 'a')]), 1);
    return s;
  }
  // Near the cost limit.
  const costly = '{comm=~"(?:a?){800}"}';

  it('leaves the same samples to select, then answers from its results', async () => {
    const s = store();
    const selectors = ['execs_total{comm=~"s.|l."}', '{__name__=~"lat_.+",le=~"1|\\\\+Inf"}'].map((t) => parseSelector(t));
    await matchAhead(s, selectors);
    const text = serializeText(s, { include: federationFilter(s, selectors) }).toString();
    expect(text.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
      'execs_total{comm="sh",code="0"} 3', 'execs_total{comm="ls",code="1"} 1',
      'lat_seconds_bucket{comm="sh",le="1"} 1', 'lat_seconds_bucket{comm="sh",le="+Inf"} 1',
      'lat_seconds_bucket{comm="ls",le="1"} 0', 'lat_seconds_bucket{comm="ls",le="+Inf"} 1',
    ]);
  });

  /** Runs matchAhead on a clock that advances 1 ms per reading (one per regex test), counting the event loop's turns meanwhile. */
  async function sliced(series: number, totalMs: number) {
    let ms = 0;
    let turns = 0;
    let running = true;
    const counter = (async () => {
      while (running) {
        await new Promise((r) => setImmediate(r));
        turns++;
      }
    })();
    const result = await matchAhead(wideStore(series), [parseSelector(costly)], { sliceMs: 5, totalMs, now: () => ms++ })
      .then(() => 'done', (e: unknown) => e);
    running = false;
    await counter;
    return { result, turns };
  }

  it('lets the event loop run between slices of a few regex tests each', async () => {
    // 2000 values, 5 per slice (the clock reads once per test and once per slice's ends).
    const { result, turns } = await sliced(2000, 100_000);
    expect(result).toBe('done');
    expect(turns).toBeGreaterThanOrEqual(2000 / 5 - 10);
  });

  it('fails past its time budget with SELECTOR_TIMEOUT (503, retry after 1 s)', async () => {
    const { result } = await sliced(2000, 1000);
    expect(result).toMatchObject({ code: 'SELECTOR_TIMEOUT', statusCode: 503, retryAfterSeconds: 1,
      message: 'matching the selectors took more than 1000 ms; use fewer or simpler regexes' });
  });
});
