// /flamegraph routes with a stand-in profiler (the real renderers): parameters, errors, formats,
// stored profiles, diffs and a client that leaves mid-sampling.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BpfwasmError } from '../../src/errors.js';
import { buildServer } from '../../src/http/server.js';
import { SeriesStore } from '../../src/metrics/store.js';
import type { Profile } from '../../src/profile/model.js';
import { ProfileStore } from '../../src/profile/profile-store.js';
import type { ProfileRequest } from '../../src/profile/profiler.js';

const LIMITS = { defaultHz: 99, maxHz: 1000, defaultSeconds: 10, maxSeconds: 300 };

let nextId = 1;
function profileOf(req: ProfileRequest, burnA = 75): Profile {
  const frames = (fn: string) => [
    { name: 'burn', kind: 'process' as const },
    { name: 'main', kind: 'user' as const, module: '/bin/burn' },
    { name: fn, kind: 'user' as const, module: '/bin/burn' },
  ];
  return {
    id: `p${nextId++}`, startedAt: 1_700_000_000_000, hz: req.hz, seconds: req.seconds,
    filters: { kernel: req.kernel, user: req.user, idle: req.idle },
    samples: [
      { pid: 42, comm: 'burn', frames: frames('burn_a'), count: burnA },
      { pid: 42, comm: 'burn', frames: frames('burn_b'), count: 100 - burnA },
    ],
    totalSamples: 100,
    stackErrors: { kernelMissing: 0, userMissing: 0, lost: 0, other: 0 },
    warnings: [],
  };
}

type Run = (req: ProfileRequest, signal: AbortSignal) => Promise<Profile>;

function app(run: Run = async (req) => profileOf(req)) {
  const store = new ProfileStore(5);
  const server = buildServer({
    store: new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64 }),
    refresh: async () => {},
    readiness: () => ({ ready: true, waiting: [] }),
    profiling: { profiler: { run }, store, limits: LIMITS },
  });
  return { server, store };
}

describe('/flamegraph', () => {
  it('profiles with the defaults and answers the interactive page', async () => {
    const seen: ProfileRequest[] = [];
    const { server, store } = app(async (req) => { seen.push(req); return profileOf(req); });
    const res = await server.inject({ url: '/flamegraph' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-disposition']).toBeUndefined();
    expect(res.body).toContain('burn_a');
    expect(seen).toEqual([{ seconds: 10, hz: 99, kernel: true, user: true, idle: false }]);
    const id = res.headers['x-profile-id'] as string;
    expect(store.get(id).id).toBe(id);
  });

  it('passes every parameter through', async () => {
    const seen: ProfileRequest[] = [];
    const { server } = app(async (req) => { seen.push(req); return profileOf(req); });
    const res = await server.inject({ url: '/flamegraph?seconds=3&hz=1000&pid=7&cgroup=system.slice&kernel=false&idle=true&format=json' });
    expect(res.statusCode).toBe(200);
    expect(seen).toEqual([{ seconds: 3, hz: 1000, pid: 7, cgroup: 'system.slice', kernel: false, user: true, idle: true }]);
  });

  it.each([
    ['hz=0', 'hz must be from 1 to 1000'],
    ['hz=1001', 'hz must be from 1 to 1000'],
    ['hz=abc', 'hz must be from 1 to 1000'],
    ['seconds=301', 'seconds must be from 1 to 300'],
    ['seconds=1.5', 'seconds must be from 1 to 300'],
    ['pid=0', 'pid must be an integer of at least 1'],
    ['format=png', 'format must be one of html, svg, json, folded, pprof'],
    ['kernel=maybe', 'kernel must be true or false'],
    ['cgroup=', 'cgroup must be a non-empty string'],
    ['kernel=false&user=false', 'kernel and user cannot both be false'],
    ['groupBy=tid', 'groupBy must be one of comm, pid'],
  ])('answers 400 with the allowed range for %s', async (query, message) => {
    let runs = 0;
    const { server } = app(async (req) => { runs++; return profileOf(req); });
    const res = await server.inject({ url: `/flamegraph?${query}` });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'PROFILE_INVALID', message });
    expect(runs).toBe(0);
  });

  it('splits two processes of one comm with groupBy=pid, now and from the store; comm stays the default', async () => {
    const twoBurns = (req: ProfileRequest): Profile => {
      const p = profileOf(req);
      return { ...p, samples: [p.samples[0]!, { ...p.samples[1]!, pid: 43 }], warnings: ['sampling was stopped early, after 1.0 s of 10 s'] };
    };
    const { server } = app(async (req) => twoBurns(req));
    const byPid = await server.inject({ url: '/flamegraph?format=json&groupBy=pid' });
    expect(byPid.statusCode).toBe(200);
    const root = byPid.json();
    expect(root.warnings).toEqual(['sampling was stopped early, after 1.0 s of 10 s']);
    const burn = root.children[0];
    expect(burn.name).toBe('burn');
    expect(burn.children.map((c: { name: string; value: number }) => [c.name, c.value])).toEqual([['pid 42', 75], ['pid 43', 25]]);

    const id = byPid.headers['x-profile-id'] as string;
    const byComm = (await server.inject({ url: `/flamegraph/${id}?format=json` })).json();
    expect(byComm.children[0].children.map((c: { name: string }) => c.name)).toEqual(['main']);
    const folded = await server.inject({ url: `/flamegraph/${id}?format=folded&groupBy=pid` });
    expect(folded.body).toBe('burn;pid 42;main;burn_a 75\nburn;pid 43;main;burn_b 25\n');
  });

  it('answers 429 with Retry-After when the profiler is busy, 404 for an unknown pid', async () => {
    const busy = app(async () => { throw new BpfwasmError('PROFILER_BUSY', 'a profile is already running; retry in 7 s', { retryAfterSeconds: 7 }); });
    const res = await busy.server.inject({ url: '/flamegraph' });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.json()).toEqual({ error: 'PROFILER_BUSY', message: 'a profile is already running; retry in 7 s' });

    const gone = app(async () => { throw new BpfwasmError('PROFILE_NO_PROCESS', 'no process with pid 99999 (nothing at /proc/99999)'); });
    const res404 = await gone.server.inject({ url: '/flamegraph?pid=99999' });
    expect(res404.statusCode).toBe(404);
    expect(res404.json().message).toBe('no process with pid 99999 (nothing at /proc/99999)');
  });

  it.each([
    ['svg', 'image/svg+xml', undefined],
    ['json', 'application/json', undefined],
    ['folded', 'text/plain; charset=utf-8', 'attachment; filename="profile-ID.folded.txt"'],
    ['pprof', 'application/octet-stream', 'attachment; filename="profile-ID.pb.gz"'],
  ])('renders format=%s as %s', async (format, contentType, disposition) => {
    const { server } = app();
    const res = await server.inject({ url: `/flamegraph?format=${format}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(contentType);
    const id = res.headers['x-profile-id'] as string;
    expect(res.headers['content-disposition']).toBe(disposition?.replace('ID', id));
    if (format === 'folded') expect(res.body).toBe('burn;main;burn_a 75\nburn;main;burn_b 25\n');
  });

  it('serves a stored profile again in another format, and 404 once it is gone', async () => {
    const { server } = app();
    const first = await server.inject({ url: '/flamegraph?format=json' });
    const id = first.headers['x-profile-id'] as string;
    const again = await server.inject({ url: `/flamegraph/${id}?format=folded` });
    expect(again.statusCode).toBe(200);
    expect(again.headers['x-profile-id']).toBe(id);
    expect(again.body).toContain('burn;main;burn_a 75');
    const missing = await server.inject({ url: '/flamegraph/nope?format=svg' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toBe('PROFILE_NOT_FOUND');
  });

  it('compares two stored profiles', async () => {
    let split = 75;
    const { server } = app(async (req) => profileOf(req, split));
    const before = (await server.inject({ url: '/flamegraph?format=json' })).headers['x-profile-id'];
    split = 25;
    const after = (await server.inject({ url: '/flamegraph?format=json' })).headers['x-profile-id'];
    const res = await server.inject({ url: `/flamegraph/diff?before=${before}&after=${after}&format=json` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body).toContain('burn_a');
    expect((await server.inject({ url: `/flamegraph/diff?before=${before}&after=${after}&format=folded` })).json())
      .toEqual({ error: 'PROFILE_INVALID', message: 'format must be one of html, svg, json' });
    expect((await server.inject({ url: `/flamegraph/diff?before=${before}` })).json())
      .toEqual({ error: 'PROFILE_INVALID', message: 'after must be a non-empty string' });
    expect((await server.inject({ url: `/flamegraph/diff?before=${before}&after=gone` })).statusCode).toBe(404);
  });

  it('stops the profile when the client disconnects mid-sampling', async () => {
    let aborted!: () => void;
    const wasAborted = new Promise<void>((r) => (aborted = r));
    const { server } = app((_req, signal) => new Promise((_ok, fail) => {
      signal.addEventListener('abort', () => {
        aborted();
        fail(new BpfwasmError('PROFILE_ABORTED', 'the client went away, so sampling was stopped'));
      });
    }));
    await server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = server.server.address() as { port: number };
      // A raw socket: send the request, then hang up without waiting for the answer.
      await new Promise<void>((ok, fail) => {
        const c = connect(port, '127.0.0.1', () => {
          c.write('GET /flamegraph?seconds=60 HTTP/1.1\r\nHost: x\r\n\r\n');
          setTimeout(() => { c.destroy(); ok(); }, 200);
        });
        c.on('error', fail);
      });
      await expect(Promise.race([wasAborted, new Promise((_, f) => setTimeout(() => f(new Error('not aborted')), 3000))]))
        .resolves.toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
