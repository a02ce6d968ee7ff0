// startRegistry: a real docker-registry answers on its port, behind basic auth when asked.
import { describe, expect, it } from 'vitest';
import { startRegistry } from './registry.js';

describe('startRegistry', () => {
  it('serves /v2/ openly, and stops', async () => {
    const r = await startRegistry();
    expect(r.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await fetch(`http://${r.host}/v2/`)).status).toBe(200);
    await r.stop();
    await expect(fetch(`http://${r.host}/v2/`)).rejects.toThrow();
  });

  it('with htpasswd, refuses anonymous and wrong-password requests and lets the user in', async () => {
    const r = await startRegistry({ htpasswd: { user: 'ci', password: 's3cret' } });
    try {
      const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
      expect((await fetch(`http://${r.host}/v2/`)).status).toBe(401);
      expect((await fetch(`http://${r.host}/v2/`, { headers: basic('ci', 'wrong') })).status).toBe(401);
      expect((await fetch(`http://${r.host}/v2/`, { headers: basic('ci', 's3cret') })).status).toBe(200);
    } finally {
      await r.stop();
    }
  });
});
