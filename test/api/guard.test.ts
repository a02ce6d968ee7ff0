// The request guard on a real TLS listener: the token is checked before the body is read, each
// method has its own request size, and a request that does not decode never reaches a handler.
import { Client, credentials, Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LOAD_EXPORTER_BYTES, MAX_REQUEST_BYTES, methodLabel } from '../../src/api/guard.js';
import { ApiServer } from '../../src/api/server.js';
import { defaultConfig } from '../../src/config.js';
import { SeriesStore } from '../../src/metrics/store.js';
import { fakeCollector, FakeManager, profiling } from '../support/api-fakes.js';
import { loadExporterBytes, rawCall } from '../support/raw-grpc.js';

const TOKEN = 'guard-test-token';
const GET_STATUS = '/bpfwasm.v1.Collector/GetStatus';
const LOAD = '/bpfwasm.v1.Collector/LoadExporter';

describe('API request guard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-guard-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const tokenFile = join(dir, 'token');
  const store = new SeriesStore({ maxSeriesPerOwner: 10_000, maxLabelValueBytes: 1024 });
  const manager = new FakeManager();
  let server: ApiServer;
  let client: Client;
  // Between client and server: counts the bytes the client got to send.
  let proxy: Server;
  let sent = 0;

  const requests = (method: string, code: string) =>
    store.seriesValues.some((v, sid) => v[0] === method && v[1] === code && store.value(sid) > 0);
  const md = (authorization?: string) => {
    const m = new Metadata();
    if (authorization) m.set('authorization', authorization);
    return m;
  };

  beforeAll(async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    const config = { ...defaultConfig().api, socket: join(dir, 'api.sock'), tcp: { listen: '127.0.0.1:0', tlsCert: cert, tlsKey: key, tokenFile } };
    const collector = fakeCollector(store);
    collector.setReady(true);
    server = new ApiServer({ config, collector, profiling: profiling(), exporters: manager, log: pino({ level: 'silent' }) });
    await server.start();
    proxy = createServer((down) => {
      const up = connect(server.tcpPort!, '127.0.0.1');
      down.on('data', (b: Buffer) => { sent += b.length; });
      down.pipe(up).pipe(down);
      const close = () => { up.destroy(); down.destroy(); };
      up.on('error', close).on('close', close);
      down.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    client = new Client(`127.0.0.1:${(proxy.address() as AddressInfo).port}`, credentials.createSsl(readFileSync(cert)), { 'grpc.max_send_message_length': -1 });
  });

  afterAll(async () => {
    client.close();
    proxy.close();
    await server.stop();
  });

  it('refuses a call without the token on its headers, without reading its 48 MB body', async () => {
    const before = sent;
    const res = await rawCall(client, LOAD, loadExporterBytes(48 << 20));
    expect(res).toEqual({ code: GrpcStatus.UNAUTHENTICATED, details: 'missing or wrong bearer token (metadata authorization: Bearer <token>)' });
    expect(manager.installs).toEqual([]);
    // What HTTP/2 flow control lets through unread (64 KiB), not the 48 MB a read body would be.
    expect(sent - before).toBeLessThan(256 << 10);
    expect(requests('LoadExporter', 'UNAUTHENTICATED')).toBe(true);
    expect((await rawCall(client, '/grpc.health.v1.Health/Check', Buffer.alloc(0), { metadata: md('Bearer wrong') })).code).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(requests('Health.Check', 'UNAUTHENTICATED')).toBe(true);
  });

  it('takes a module of up to the limit with the token, and any other request up to 64 KiB', async () => {
    const load = await rawCall(client, LOAD, loadExporterBytes(1 << 20), { metadata: md(`Bearer ${TOKEN}`) });
    expect(load.code).toBe(GrpcStatus.OK);
    expect(manager.installs.at(-1)).toMatchObject({ name: 'x', bytes: 1 << 20 });
    expect((await rawCall(client, GET_STATUS, Buffer.alloc(0), { metadata: md(`Bearer ${TOKEN}`) })).code).toBe(GrpcStatus.OK);
  });

  it('refuses a request past its method\'s size with RESOURCE_EXHAUSTED before decoding it', async () => {
    // An unknown field of 100 KB: decodable, but past what a status request can need.
    const big = Buffer.concat([Buffer.from([0x7a, 0xa0, 0x8d, 0x06]), Buffer.alloc(100_000)]);
    const res = await rawCall(client, GET_STATUS, big, { metadata: md(`Bearer ${TOKEN}`) });
    expect(res).toEqual({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: `the GetStatus request is ${big.length} bytes, more than the limit of ${MAX_REQUEST_BYTES}` });
    expect(requests('GetStatus', 'RESOURCE_EXHAUSTED')).toBe(true);
    const huge = await rawCall(client, LOAD, loadExporterBytes(MAX_LOAD_EXPORTER_BYTES), { metadata: md(`Bearer ${TOKEN}`) });
    expect(huge.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it('answers a request that is not a valid message INVALID_ARGUMENT, on streams too', async () => {
    const res = await rawCall(client, GET_STATUS, Buffer.from([0x0a, 0xff]), { metadata: md(`Bearer ${TOKEN}`) });
    expect(res.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(res.details).toMatch(/^the GetStatus request is not a valid message: /);
    const stream = await rawCall(client, '/bpfwasm.v1.Collector/StreamEvents', Buffer.from([0xff, 0xff, 0xff]), { stream: true, metadata: md(`Bearer ${TOKEN}`) });
    expect(stream.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });

  it('labels methods as the request counter does', () => {
    expect(methodLabel('/bpfwasm.v1.Collector/GetStatus')).toBe('GetStatus');
    expect(methodLabel('/grpc.health.v1.Health/Watch')).toBe('Health.Watch');
  });
});
