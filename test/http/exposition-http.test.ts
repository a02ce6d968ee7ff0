// /metrics over HTTP: the negotiated format, and gzip when the client accepts it.
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { acceptsGzip } from '../../src/http/compress.js';
import { buildServer } from '../../src/http/server.js';
import { SeriesStore } from '../../src/metrics/store.js';

function app() {
  const store = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64 });
  store.add(store.series(store.declare('t', { name: 'a_total', help: 'A', kind: 'counter', labelNames: [] }), []), 1);
  return buildServer({ store, refresh: async () => {}, readiness: () => ({ ready: true, waiting: [] }) });
}

describe('/metrics formats and compression', () => {
  it('gzips when Accept-Encoding allows it, and says the body varies with both headers', async () => {
    const res = await app().inject({
      url: '/metrics',
      headers: { accept: 'application/openmetrics-text;version=1.0.0', 'accept-encoding': 'gzip' },
    });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers.vary).toBe('Accept, Accept-Encoding');
    expect(res.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(gunzipSync(res.rawPayload).toString()).toBe('# TYPE a counter\n# HELP a A\na_total 1\n# EOF\n');
  });

  it('sends plain text without Accept-Encoding', async () => {
    const res = await app().inject({ url: '/metrics' });
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.vary).toBe('Accept, Accept-Encoding');
    expect(res.body).toBe('# HELP a_total A\n# TYPE a_total counter\na_total 1\n');
  });

  it('serves protobuf to a scraper asking for it', async () => {
    const res = await app().inject({
      url: '/metrics',
      headers: { accept: 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,*/*;q=0.2' },
    });
    expect(res.headers['content-type']).toBe('application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited');
    expect(res.rawPayload[0]).toBe(res.rawPayload.length - 1); // one family, its length prefix first
  });

  it.each([
    ['gzip', true], ['deflate, gzip;q=0.5', true], ['GZIP', true], ['x-gzip', true], ['*', true], ['br, *;q=0.1', true],
    ['gzip;q=0', false], ['gzip;q=0, *', false], ['deflate', false], ['', false], [undefined, false], ['*;q=0', false],
  ])('Accept-Encoding %s → gzip %s', (header, ok) => expect(acceptsGzip(header)).toBe(ok));
});
