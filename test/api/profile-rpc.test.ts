// Profile over the API with an in-test profiler: progress while it runs, then the rendered
// result; the limits of GET /flamegraph; a client cancel aborts the sampling.
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type ProfileReply } from '../../src/api/client.js';
import { EventTap } from '../../src/api/event-tap.js';
import { ApiServer } from '../../src/api/server.js';
import { defaultConfig } from '../../src/config.js';
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.js';
import { SeriesStore } from '../../src/metrics/store.js';
import type { Profile } from '../../src/profile/model.js';
import { ProfileStore } from '../../src/profile/profile-store.js';
import type { ProfilePhase, ProfileRequest } from '../../src/profile/profiler.js';

const PROFILE: Profile = {
  id: 'p-1', startedAt: 0, hz: 49, seconds: 1, filters: { kernel: true, user: true, idle: false }, totalSamples: 3,
  samples: [{ pid: 7, comm: 'burn', count: 3, frames: [{ name: 'burn', kind: 'process' }, { name: 'main', kind: 'user' }, { name: 'spin', kind: 'user' }] }] as never,
  stackErrors: { kernelMissing: 0, userMissing: 0, lost: 2, other: 0 },
  warnings: ['2 samples were lost: the sample ring was full (the helper fell behind)'],
};

describe('Profile over the API', () => {
  const socket = join(mkdtempSync(join(tmpdir(), 'bpfwasm-prof-')), 'api.sock');
  const calls: { req: ProfileRequest; signal: AbortSignal }[] = [];
  const profiles = new ProfileStore(4);
  let server: ApiServer;
  let client: ApiClient;

  beforeAll(async () => {
    const profiler = {
      run: (req: ProfileRequest, signal: AbortSignal, onProgress?: (p: ProfilePhase) => void) => new Promise<Profile>((resolve, reject) => {
        calls.push({ req, signal });
        onProgress?.('sampling');
        const symbolize = setTimeout(() => onProgress?.('symbolizing'), req.seconds * 400);
        const done = setTimeout(() => resolve(PROFILE), req.seconds * 700);
        signal.addEventListener('abort', () => { clearTimeout(symbolize); clearTimeout(done); reject(new Error('aborted')); });
      }),
    };
    const store = new SeriesStore({ maxSeriesPerOwner: 10_000, maxLabelValueBytes: 1024 });
    const collector = {
      config: defaultConfig(), store, metrics: new PipelineMetrics(store), tap: new EventTap(), hello: undefined, ready: undefined, helperUp: () => false,
      supervisor: { restarts: 0 } as never, startedAt: Date.now(), sensors: () => [], exportersOff: () => [], readiness: () => ({ ready: true }), refresh: async () => {},
    };
    server = new ApiServer({
      config: { ...defaultConfig().api, socket }, collector, log: pino({ level: 'silent' }),
      profiling: { profiler, store: profiles, limits: { defaultHz: 99, maxHz: 1000, defaultSeconds: 10, maxSeconds: 300 }, progressIntervalMs: 100 },
    });
    await server.start();
    client = new ApiClient({ api: socket });
  });

  afterAll(async () => {
    client.close();
    await server.stop();
  });

  function collect(req: Parameters<ApiClient['profile']>[0]): Promise<{ replies: ProfileReply[]; error?: ServiceError }> {
    const stream = client.profile(req);
    const replies: ProfileReply[] = [];
    return new Promise((resolve) => {
      stream.on('data', (r: ProfileReply) => replies.push(r));
      stream.on('error', (error: ServiceError) => resolve({ replies, error }));
      stream.on('end', () => resolve({ replies }));
    });
  }

  it('sends progress in both phases, then the profile rendered as asked, and keeps it for /flamegraph/<id>', async () => {
    const { replies, error } = await collect({ seconds: 1, hz: 49, pid: 7, format: 'FORMAT_FOLDED' });
    expect(error).toBeUndefined();
    const progress = replies.filter((r) => r.item === 'progress').map((r) => (r.item === 'progress' ? r.progress : undefined)!);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(new Set(progress.map((p) => p.phase))).toEqual(new Set(['sampling', 'symbolizing']));
    expect(progress.every((p) => p.total_seconds === 1 && p.elapsed_seconds >= 0 && p.elapsed_seconds <= 1)).toBe(true);
    const last = replies.at(-1)!;
    expect(last.item).toBe('result');
    if (last.item !== 'result') return;
    expect(last.result.format).toBe('folded');
    expect(last.result.samples).toBe('3');
    expect(last.result.id).toBe('p-1');
    expect(Buffer.from(last.result.data).toString('utf8')).toBe('burn;main;spin 3\n');
    expect(calls.at(-1)!.req).toEqual({ hz: 49, seconds: 1, pid: 7, kernel: true, user: true, idle: false });
    expect(profiles.get('p-1')).toBe(PROFILE);
  });

  it('splits frames per pid with GROUP_BY_PID and answers the warnings as their own field', async () => {
    const { replies, error } = await collect({ seconds: 1, format: 'FORMAT_FOLDED', group_by: 'GROUP_BY_PID' });
    expect(error).toBeUndefined();
    const last = replies.at(-1)!;
    if (last.item !== 'result') throw new Error('no result');
    expect(Buffer.from(last.result.data).toString('utf8')).toBe('burn;pid 7;main;spin 3\n');
    expect(last.result.warnings).toEqual(['2 samples were lost: the sample ring was full (the helper fell behind)']);
    const json = await collect({ seconds: 1, format: 'FORMAT_JSON' });
    const result = json.replies.at(-1)!;
    if (result.item !== 'result') throw new Error('no result');
    expect(JSON.parse(Buffer.from(result.result.data).toString('utf8')).warnings).toEqual(result.result.warnings);
  });

  it('fills in the defaults and refuses what GET /flamegraph refuses, with the same words', async () => {
    const pprof = collect({ format: 'FORMAT_PPROF', seconds: 1 });
    expect((await pprof).replies.at(-1)).toMatchObject({ item: 'result', result: { format: 'pprof' } });
    expect(calls.at(-1)!.req.hz).toBe(99);
    const tooFast = await collect({ seconds: 1, hz: 5000 });
    expect(tooFast.error).toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, details: 'hz must be from 1 to 1000' });
    const tooLong = await collect({ seconds: 301 });
    expect(tooLong.error).toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, details: 'seconds must be from 1 to 300' });
  });

  it('stops the sampling when the client cancels', async () => {
    const before = calls.length;
    const stream = client.profile({ seconds: 30, format: 'FORMAT_FOLDED' });
    stream.on('error', () => { /* CANCELLED: we cancelled */ });
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.cancel();
    const call = calls[before]!;
    await new Promise<void>((resolve, reject) => {
      if (call.signal.aborted) return resolve();
      call.signal.addEventListener('abort', () => resolve());
      setTimeout(() => reject(new Error('sampling was not stopped')), 5000);
    });
    expect(call.signal.aborted).toBe(true);
  });
});
