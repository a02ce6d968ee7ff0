// http.profile: off | local | token on the real routes (a stand-in profiler): who gets a profile,
// who is refused and how, and that /metrics stays open to everyone.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { isLoopback, profileAccess, type ProfileAccess } from '../../src/http/profile-access.js';
import { buildServer } from '../../src/http/server.js';
import { SeriesStore } from '../../src/metrics/store.js';
import type { Profile } from '../../src/profile/model.js';
import { ProfileStore } from '../../src/profile/profile-store.js';
import type { ProfileRequest } from '../../src/profile/profiler.js';

const LIMITS = { defaultHz: 99, maxHz: 1000, defaultSeconds: 10, maxSeconds: 300 };

function profileOf(req: ProfileRequest): Profile {
  return {
    id: 'p1', startedAt: 1_700_000_000_000, hz: req.hz, seconds: req.seconds, filters: { kernel: true, user: true, idle: false },
    samples: [{ pid: 42, comm: 'burn', frames: [{ name: 'burn', kind: 'process' }, { name: 'main', kind: 'user' }], count: 3 }],
    totalSamples: 3, stackErrors: { kernelMissing: 0, userMissing: 0, lost: 0, other: 0 }, warnings: [],
  };
}

function app(access: ProfileAccess) {
  let runs = 0;
  const server = buildServer({
    store: new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64 }),
    refresh: async () => {},
    readiness: () => ({ ready: true, waiting: [] }),
    profiling: { profiler: { run: async (req) => { runs++; return profileOf(req); } }, store: new ProfileStore(5), limits: LIMITS, access },
  });
  return { server, runs: () => runs };
}

const tokenFile = join(mkdtempSync(join(tmpdir(), 'bpfwasm-http-token-')), 'token');
writeFileSync(tokenFile, 's3cret-token\n');

describe('http.profile', () => {
  it.each([
    ['127.0.0.1', true], ['127.8.9.10', true], ['::1', true], ['::ffff:127.0.0.1', true],
    ['10.0.0.5', false], ['::ffff:10.0.0.5', false], ['fe80::1', false], ['1127.0.0.1', false], [undefined, false],
  ])('isLoopback(%s) = %s', (address, loopback) => {
    expect(isLoopback(address)).toBe(loopback);
  });

  it('local (the default): loopback clients get profiles, others 403 before any sampling; /metrics stays open', async () => {
    const { server, runs } = app(profileAccess({ profile: 'local', profileTokenFile: '' }));
    expect((await server.inject({ url: '/flamegraph?seconds=1&format=folded', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
    const refused = await server.inject({ url: '/flamegraph?seconds=1', remoteAddress: '10.0.0.5' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: 'PROFILE_NOT_LOCAL' });
    expect(refused.json().message).toMatch(/loopback clients \(http\.profile: local\)/);
    expect((await server.inject({ url: '/flamegraph/p1?format=folded', remoteAddress: '10.0.0.5' })).statusCode).toBe(403);
    expect(runs()).toBe(1);
    expect((await server.inject({ url: '/metrics', remoteAddress: '10.0.0.5' })).statusCode).toBe(200);
  });

  it('off: every /flamegraph route answers 404 PROFILE_HTTP_OFF, even to loopback', async () => {
    const { server, runs } = app(profileAccess({ profile: 'off', profileTokenFile: '' }));
    for (const url of ['/flamegraph', '/flamegraph/p1', '/flamegraph/diff?before=a&after=b']) {
      const res = await server.inject({ url, remoteAddress: '127.0.0.1' });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toMatchObject({ error: 'PROFILE_HTTP_OFF' });
    }
    expect(runs()).toBe(0);
    expect((await server.inject({ url: '/metrics' })).statusCode).toBe(200);
  });

  it('token: the bearer token from any address; none or a wrong one gets 401', async () => {
    const { server, runs } = app(profileAccess({ profile: 'token', profileTokenFile: tokenFile }));
    const none = await server.inject({ url: '/flamegraph?seconds=1', remoteAddress: '127.0.0.1' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ error: 'PROFILE_UNAUTHORIZED' });
    for (const authorization of ['Bearer wrong', 'Basic czNjcmV0LXRva2Vu', 's3cret-token', 'Bearer s3cret-token extra']) {
      expect((await server.inject({ url: '/flamegraph?seconds=1', headers: { authorization }, remoteAddress: '10.0.0.5' })).statusCode, authorization).toBe(401);
    }
    expect(runs()).toBe(0);
    const ok = await server.inject({ url: '/flamegraph?seconds=1&format=folded', headers: { authorization: 'Bearer s3cret-token' }, remoteAddress: '10.0.0.5' });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('burn;main 3');
  });

  it('config: local by default; token needs a readable, non-empty token file; other modes are refused', () => {
    expect(buildConfig({}).http).toEqual({ profile: 'local', profileTokenFile: '' });
    expect(() => buildConfig({ http: { profile: 'token' } })).toThrow(/http\.profileTokenFile.*is needed by http\.profile: token/);
    expect(() => buildConfig({ http: { profile: 'open' } })).toThrow(/http\.profile/);
    expect(buildConfig({ http: { profile: 'token', profileTokenFile: 'tok' } }, '/etc/bpfwasm').http.profileTokenFile).toBe('/etc/bpfwasm/tok');
    expect(() => profileAccess({ profile: 'token', profileTokenFile: '/nonexistent/token' })).toThrow(/cannot read http\.profileTokenFile \/nonexistent\/token: ENOENT/);
  });
});
