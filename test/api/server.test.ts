// The API server over a real unix socket with a fake collector and an in-test ExporterManager:
// exporter RPCs, error statuses on the wire, health, status, the socket's mode and cleanup.
import { status as GrpcStatus, Metadata, type ServiceError } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { ApiServer } from '../../src/api/server.js';
import { defaultConfig } from '../../src/config.js';
import { encodeBatch, RecordType } from '../../src/testing/index.js';
import { SeriesStore } from '../../src/metrics/store.js';
import { fakeCollector, FakeManager, profiling } from '../support/api-fakes.js';

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('ApiServer on a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-api-'));
  const socket = join(dir, 'sub', 'api.sock');
  const store = new SeriesStore({ maxSeriesPerOwner: 10_000, maxLabelValueBytes: 1024 });
  const collector = fakeCollector(store);
  const manager = new FakeManager();
  let server: ApiServer;
  let client: ApiClient;

  beforeAll(async () => {
    // A stale socket file, as a crashed collector leaves it (bound, never unlinked), is replaced.
    mkdirSync(join(dir, 'sub'));
    execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', socket]);
    expect(statSync(socket).isSocket()).toBe(true);
    const config = { ...defaultConfig().api, socket, streamQueueEvents: 8 };
    server = new ApiServer({ config, collector, profiling: profiling(), exporters: manager, log: pino({ level: 'silent' }) });
    await server.start();
    client = new ApiClient({ api: `unix:${socket}` });
  });

  afterAll(async () => {
    client.close();
    await server.stop();
    expect(existsSync(socket)).toBe(false);
  });

  it('creates the directory and the socket with mode 0600', () => {
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('refuses a path that is not a socket, and a socket another server answers on', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    const onFile = new ApiServer({ config: { ...defaultConfig().api, socket: file }, collector, profiling: profiling(), log: pino({ level: 'silent' }) });
    await expect(onFile.start()).rejects.toThrow(`api.socket ${file} exists and is not a socket; remove it or choose another path`);
    const second = new ApiServer({ config: { ...defaultConfig().api, socket }, collector, profiling: profiling(), log: pino({ level: 'silent' }) });
    await expect(second.start()).rejects.toThrow(`api.socket ${socket} is in use: another collector is running`);
  });

  it('refuses a directory that cannot be created with the reason, at once (not a spin in Node\'s recursive mkdir under /proc)', async () => {
    const start = (socketPath: string) =>
      new ApiServer({ config: { ...defaultConfig().api, socket: socketPath }, collector, profiling: profiling(), log: pino({ level: 'silent' }) }).start();
    const started = performance.now();
    await expect(start('/proc/bpfwasm-test/run/api.sock')).rejects.toThrow(
      'cannot create /proc/bpfwasm-test/run for api.socket: ENOENT on /proc/bpfwasm-test; set api.socket to a writable path, or api.enabled: false');
    expect(performance.now() - started).toBeLessThan(5000);
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    await expect(start(join(file, 'sub', 'api.sock'))).rejects.toThrow(`cannot create ${file}/sub for api.socket: ENOTDIR on ${file}/sub;`);
  });

  it('health is NOT_SERVING before the collector is ready, SERVING after; unknown services are NOT_FOUND', async () => {
    collector.setReady(false);
    expect(await client.health('')).toEqual({ status: 'NOT_SERVING' });
    collector.setReady(true);
    expect(await client.health('')).toEqual({ status: 'SERVING' });
    expect(await client.health('bpfwasm.v1.Collector')).toEqual({ status: 'SERVING' });
    expect((await rejection(client.health('nope'))).message).toBe('unknown service "nope"');
  });

  it('loads, shadows, promotes, aborts and unloads through the manager', async () => {
    const wasm = Buffer.from('\0asm-pretend-module');
    const loaded = await client.loadExporter('myexp', wasm, {});
    expect(loaded).toMatchObject({ name: 'myexp', current: { version: `v${wasm.length}`, state: 'loaded', source: 'api' }, shadow: null, subscriptions: ['process_exec'] });
    const shadow = await client.loadExporter('myexp', Buffer.alloc(7), { shadow: true, signature: Buffer.from('sig') });
    expect(shadow.shadow).toMatchObject({ version: 'v7', state: 'shadow' });
    expect(manager.installs.at(-1)).toMatchObject({ name: 'myexp', bytes: 7, options: { shadow: true, source: 'api' } });
    expect(Buffer.from(manager.installs.at(-1)!.options!.signature!).toString()).toBe('sig');
    expect((await client.listExporters()).map((e) => e.name)).toEqual(['myexp']);
    expect((await client.promoteExporter('myexp')).current).toMatchObject({ version: 'v7', state: 'loaded' });
    await client.loadExporter('myexp', Buffer.alloc(9), { shadow: true });
    expect((await client.abortExporter('myexp')).shadow).toBeNull();
    await client.unloadExporter('myexp');
    expect(await client.listExporters()).toEqual([]);
  });

  it('maps the manager errors to their statuses with the message', async () => {
    expect(await rawCall(socket, 'UnloadExporter', { name: 'ghost' })).toEqual({ code: GrpcStatus.NOT_FOUND, details: 'no exporter "ghost" is loaded' });
    await client.loadExporter('solo', Buffer.alloc(3), {});
    expect(await rawCall(socket, 'PromoteExporter', { name: 'solo' })).toEqual({ code: GrpcStatus.FAILED_PRECONDITION, details: 'exporter solo has no shadow candidate' });
    expect(await rawCall(socket, 'LoadExporter', { name: 'Bad Name', wasm: Buffer.alloc(1) })).toEqual({ code: GrpcStatus.INVALID_ARGUMENT, details: 'invalid exporter name "Bad Name"' });
    expect(await rawCall(socket, 'LoadExporter', { name: 'x', wasm: Buffer.alloc(0) })).toEqual({ code: GrpcStatus.INVALID_ARGUMENT, details: 'wasm is empty' });
    await client.unloadExporter('solo');
    // And the client says the same in one line.
    expect((await rejection(client.unloadExporter('ghost'))).message).toBe('no exporter "ghost" is loaded');
  });

  it('status carries the helper, sensors from the config, exporters from the manager, and counts requests', async () => {
    await client.loadExporter('listed', Buffer.alloc(4), {});
    const s = await client.status();
    expect(s).toMatchObject({ collector_version: '0.1.0', helper_version: '9.9.9', kernel: '6.18.0-test', helper_up: false, helper_restarts: 3 });
    // The benchmark sensor is listed only when enabled.
    expect(s.sensors.map((x) => [x.name, x.enabled])).toEqual([
      ['process', true], ['syscalls', false], ['tcp', true], ['blockio', true], ['runqlat', true], ['oom', true],
    ]);
    // Counts are JSON numbers, not the decimal strings grpc-js gives 64-bit fields.
    for (const x of s.sensors) for (const k of ['events_submitted', 'ring_drops', 'map_full', 'program_runs'] as const) expect(typeof x[k]).toBe('number');
    // Each sensor's state; no attached gauge in this store, so an attached one reads as detached (helper down).
    expect(s.sensors.find((x) => x.name === 'tcp')).toMatchObject({ state: 'failed', required: false, reason: 'load: no BTF type for the hook', exporters_off: ['tcp'] });
    expect(s.sensors.find((x) => x.name === 'process')).toMatchObject({ state: 'detached', route: 'tp_btf', reason: '', exporters_off: [] });
    expect(s.sensors.find((x) => x.name === 'syscalls')).toMatchObject({ state: 'disabled' });
    expect(s.exporters.map((e) => e.name)).toEqual(['listed']);
    expect(Number(s.uptime_seconds)).toBeGreaterThanOrEqual(5);
    const requests = store.families.find((f) => f.spec.name === 'bpfwasm_api_requests_total')!;
    const byLabels = new Map([...requests.series].map((id) => [store.seriesValues[id]!.join(','), store.value(id)]));
    expect(byLabels.get('UnloadExporter,NOT_FOUND')).toBe(2);
    expect(byLabels.get('GetStatus,OK')).toBe(1);
    await client.unloadExporter('listed');
  });

  it('streams tapped events to a client, with filters applied on the collector', async () => {
    const stream = client.streamEvents({ types: ['process_exec'], comm: 'wanted' });
    const got: string[] = [];
    const done = new Promise<void>((resolve) => stream.on('data', (r) => { got.push(r.event.comm); if (got.length === 2) resolve(); }));
    await waitUntil(() => collector.tap.active);
    collector.tap.onBatch(RecordType.process_exec, encodeBatch(RecordType.process_exec, [{ comm: 'wanted' }, { comm: 'other' }, { comm: 'wanted' }]), 3);
    await done;
    stream.on('error', () => { /* CANCELLED: we cancelled */ });
    stream.cancel();
    expect(got).toEqual(['wanted', 'wanted']);
    await waitUntil(() => !collector.tap.active);
  });

  it('refuses a stream of an unknown type with INVALID_ARGUMENT', async () => {
    const stream = client.streamEvents({ types: ['nope'] });
    const err = await new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^unknown event type "nope"/);
  });
});

describe('ApiServer without an exporter manager', () => {
  it('answers the exporter RPCs UNIMPLEMENTED and still reports status', async () => {
    const socket = join(mkdtempSync(join(tmpdir(), 'bpfwasm-api-')), 'api.sock');
    const store = new SeriesStore({ maxSeriesPerOwner: 10_000, maxLabelValueBytes: 1024 });
    const server = new ApiServer({ config: { ...defaultConfig().api, socket }, collector: fakeCollector(store), profiling: profiling(), log: pino({ level: 'silent' }) });
    await server.start();
    try {
      expect(await rawCall(socket, 'ListExporters', {})).toMatchObject({ code: GrpcStatus.UNIMPLEMENTED });
      const client = new ApiClient({ api: socket });
      expect((await client.status()).exporters).toEqual([]);
      client.close();
    } finally {
      await server.stop();
    }
  });
});

/** One unary call, answering its status code and details (OK as code 0). */
async function rawCall(socket: string, method: string, req: unknown): Promise<{ code: number; details: string }> {
  const { apiProto } = await import('../../src/api/proto.js');
  const { credentials } = await import('@grpc/grpc-js');
  const client = new (apiProto().CollectorClient)(`unix:${socket}`, credentials.createInsecure()) as unknown as Record<string, (r: unknown, m: Metadata, cb: (e: ServiceError | null) => void) => void> & { close(): void };
  try {
    return await new Promise((resolve) => client[method]!(req, new Metadata(), (err) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' })));
  } finally {
    client.close();
  }
}

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
