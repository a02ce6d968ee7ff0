import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import { SeriesStore } from '../../src/metrics/store.js';

function storeWithOneCounter(): SeriesStore {
  const store = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64 });
  store.add(store.series(store.declare('t', { name: 'a_total', help: 'A', kind: 'counter', labelNames: [] }), []), 1);
  return store;
}

const ready = () => ({ ready: true, waiting: [] });

describe('HTTP server', () => {
  it('serves /metrics as text format 0.0.4, refreshing first', async () => {
    let refreshed = 0;
    const app = buildServer({ store: storeWithOneCounter(), refresh: async () => { refreshed++; }, readiness: ready });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toBe('# HELP a_total A\n# TYPE a_total counter\na_total 1\n');
    expect(refreshed).toBe(1);
  });

  it('answers /healthz always, and /readyz 503 with what is missing until ready', async () => {
    let isReady = false;
    const app = buildServer({
      store: storeWithOneCounter(),
      refresh: async () => {},
      readiness: () => (isReady ? { ready: true, waiting: [] } : { ready: false, waiting: ['sensors not attached'] }),
    });
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const notReady = await app.inject({ url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ ready: false, waiting: ['sensors not attached'] });
    isReady = true;
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('turns a failing refresh into a coded 500, not a crash', async () => {
    const app = buildServer({
      store: storeWithOneCounter(),
      refresh: async () => { throw Object.assign(new Error('boom'), { code: 'X' }); },
      readiness: ready,
    });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'X', message: 'boom' });
  });
});
