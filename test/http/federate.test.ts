import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import { SeriesStore } from '../../src/metrics/store.js';

function app(externalLabels?: Record<string, string>) {
  const store = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64 });
  const a = store.declare('t', { name: 'a_total', help: 'A', kind: 'counter', labelNames: ['k'] });
  store.add(store.series(a, ['x']), 1);
  store.add(store.series(a, ['y']), 2);
  const g = store.declare('t', { name: 'g', help: 'G', kind: 'gauge', labelNames: [] });
  store.set(store.series(g, []), 5);
  let refreshed = 0;
  const server = buildServer({
    store,
    refresh: async () => { refreshed++; },
    readiness: () => ({ ready: true, waiting: [] }),
    externalLabels,
  });
  return { server, refreshed: () => refreshed };
}

const federate = (query: string) => `/federate?${query}`;
const match = (...selectors: string[]) => selectors.map((s) => `match[]=${encodeURIComponent(s)}`).join('&');

describe('GET /federate', () => {
  it('serves the selected samples as text 0.0.4 with HELP and TYPE, refreshing first', async () => {
    const { server, refreshed } = app();
    const res = await server.inject({ url: federate(match('a_total{k="y"}')) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toBe('# HELP a_total A\n# TYPE a_total counter\na_total{k="y"} 2\n');
    expect(refreshed()).toBe(1);
  });

  it('takes match[] once or many times', async () => {
    const { server } = app();
    const res = await server.inject({ url: federate(match('g', '{k=~"x|y"}', 'a_total{k="x"}')) });
    expect(res.body).toBe('# HELP a_total A\n# TYPE a_total counter\na_total{k="x"} 1\na_total{k="y"} 2\n# HELP g G\n# TYPE g gauge\ng 5\n');
  });

  it('decodes + as a space, as Prometheus (Go) does', async () => {
    const { server } = app();
    expect((await server.inject({ url: '/federate?match[]=a_total{k+=+"x"}' })).body).toContain('a_total{k="x"} 1\n');
  });

  it('answers no match[] with an empty 200, as Prometheus does', async () => {
    const { server } = app();
    const res = await server.inject({ url: '/federate' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });

  it('adds the external labels, sorted by name, to samples that lack them', async () => {
    const { server } = app({ node: 'n1', k: 'ext', a: 'b' });
    const res = await server.inject({ url: federate(match('{__name__=~".+"}')) });
    expect(res.body.split('\n').filter((l) => !l.startsWith('#'))).toEqual(['a_total{k="x",a="b",node="n1"} 1',
      'a_total{k="y",a="b",node="n1"} 2', 'g{a="b",k="ext",node="n1"} 5', '']);
  });

  it('answers a selector that does not parse with 400 SELECTOR_INVALID and Prometheus\' message', async () => {
    const { server, refreshed } = app();
    const res = await server.inject({ url: federate(match('g', 'foo{%}')) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'SELECTOR_INVALID', message: "1:5: parse error: unexpected character inside braces: '%'" });
    const re = await server.inject({ url: federate(match('{a=~"(?=x)"}')) });
    expect(re.statusCode).toBe(400);
    expect(re.json().message).toBe('1:2: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?=`');
    expect(refreshed()).toBe(0);
  });

  it('negotiates protobuf but never OpenMetrics, and gzips like /metrics', async () => {
    const { server } = app();
    const om = await server.inject({ url: federate(match('g')), headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;q=0.5' } });
    expect(om.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const pb = await server.inject({
      url: federate(match('g')),
      headers: { accept: 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited' },
    });
    expect(pb.headers['content-type']).toContain('application/vnd.google.protobuf');
    const gz = await server.inject({ url: federate(match('g')), headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe('# HELP g G\n# TYPE g gauge\ng 5\n');
  });

  it('refuses the 13.6 KB selectors that froze it for 74 s with a 422 SELECTOR_TOO_COSTLY, compiling nothing', async () => {
    const { server, refreshed } = app();
    // Ten regexes of 1.3 M instructions each: within re2js' limit, seconds and 500 MB each to compile.
    const hostile = `{comm=~"(?:${'a'.repeat(1300)}){1000}"}`;
    const started = performance.now();
    const res = await server.inject({ url: federate(match(...Array<string>(10).fill(hostile))) });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(res.statusCode).toBe(422);
    expect(res.json()).toEqual({
      error: 'SELECTOR_TOO_COSTLY',
      message: 'the regex of label "comm" would compile to about 1303008 instructions, more than the limit of 4096',
    });
    expect(refreshed()).toBe(0);
  });

  it.each<[string, string[], string]>([
    ['too many selectors', Array<string>(65).fill('g'), '65 match[] selectors, more than the limit of 64'],
    ['too many bytes', Array<string>(5).fill(`{k="${'x'.repeat(4000)}"}`), 'match[] selectors of 20030 bytes in all, more than the limit of 16384'],
    ['regexes costlier in all than a request may have', Array<string>(5).fill('{k=~"(?:xxxxxxx){400}"}'),
      'the regexes of this request would compile to more than 16384 instructions in all'],
  ])('answers %s with a 422 SELECTOR_TOO_COSTLY', async (_, selectors, message) => {
    const { server } = app();
    // Passed as the parsed query would be: the URL of so many selectors is past Node's header limit.
    const res = await server.inject({ url: '/federate', query: { 'match[]': selectors } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toEqual({ error: 'SELECTOR_TOO_COSTLY', message });
  });

  it('serves regexes up to the limits', async () => {
    const { server } = app();
    const res = await server.inject({ url: '/federate', query: { 'match[]': [`{k=~"${'z'.repeat(4000)}|x"}`, '{k=~"(?:x?){800}y"}'] } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('# HELP a_total A\n# TYPE a_total counter\na_total{k="x"} 1\na_total{k="y"} 2\n');
  });
});
