import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';

describe('HTTP server', () => {
  it('serves /metrics as text format 0.0.4', async () => {
    const app = buildServer({ renderMetrics: async () => 'a_total 1\n', readiness: () => ({ ready: true, waiting: [] }) });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toBe('a_total 1\n');
  });

  it('answers /healthz always, and /readyz 503 with what is missing until ready', async () => {
    let ready = false;
    const app = buildServer({
      renderMetrics: async () => '',
      readiness: () => (ready ? { ready, waiting: [] } : { ready, waiting: ['sensors not attached'] }),
    });
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const notReady = await app.inject({ url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ ready: false, waiting: ['sensors not attached'] });
    ready = true;
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('turns a failing render into a coded 500, not a crash', async () => {
    const app = buildServer({
      renderMetrics: async () => { throw Object.assign(new Error('boom'), { code: 'X' }); },
      readiness: () => ({ ready: true, waiting: [] }),
    });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'X', message: 'boom' });
  });
});
