// The API's access control on a real collector: the unix socket is 0600 and needs no token; TCP
// is TLS-only and every call needs the bearer token. Health answers SERVING once ready.
import { Client, status as GrpcStatus, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { apiProto } from '../../src/api/proto.js';
import { loadExporterBytes, rawCall } from '../support/raw-grpc.js';
import { CLI, freePort, onlySensors, startCollector, waitReady, type RunningCollector } from './support/collector.js';

const TOKEN = 'test-token-4f1c9e2a';

describe('API access control', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const tokenFile = join(dir, 'token');
  let c: RunningCollector;
  let port: number;

  beforeAll(async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    port = await freePort();
    c = await startCollector({
      sensors: onlySensors({ process: {} }),
      api: { tcp: { listen: `127.0.0.1:${port}`, tlsCert: cert, tlsKey: key, tokenFile } },
    });
    await waitReady(c);
  });

  afterAll(async () => {
    expect(await c.stop()).toBe(0);
  });

  it('creates the unix socket with mode 0600', () => {
    expect(statSync(c.apiSocket).isSocket()).toBe(true);
    expect(statSync(c.apiSocket).mode & 0o777).toBe(0o600);
  });

  it('answers health SERVING for the server and the Collector service, on the socket without a token', async () => {
    const client = new ApiClient({ api: `unix:${c.apiSocket}` });
    try {
      expect(await client.health('')).toEqual({ status: 'SERVING' });
      expect(await client.health('bpfwasm.v1.Collector')).toEqual({ status: 'SERVING' });
      const s = await client.status();
      expect(s.helper_up).toBe(true);
      expect(s.sensors.find((x) => x.name === 'process')).toMatchObject({ enabled: true, attached: true });
    } finally {
      client.close();
    }
  });

  it('serves TCP over TLS to a client with the token', async () => {
    const client = new ApiClient({ api: `127.0.0.1:${port}`, ca: cert, tokenFile });
    try {
      expect((await client.status()).helper_up).toBe(true);
      expect(await client.health('')).toEqual({ status: 'SERVING' });
    } finally {
      client.close();
    }
  });

  it('refuses a wrong or missing token with UNAUTHENTICATED, health included', async () => {
    expect(await tlsCall(port, cert, 'Bearer not-the-token', 'GetStatus')).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(await tlsCall(port, cert, undefined, 'GetStatus')).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(await tlsCall(port, cert, `Basic ${TOKEN}`, 'ListExporters')).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(await tlsCall(port, cert, undefined, 'Check')).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(await tlsCall(port, cert, `Bearer ${TOKEN}`, 'GetStatus')).toBe(GrpcStatus.OK);
  });

  it('reads no body before the token: six unauthenticated 48 MB LoadExporter calls leave the peak RSS where it was', async () => {
    const peakRss = () => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${c.proc.pid}/status`, 'utf8'))![1]) * 1024;
    writeFileSync(`/proc/${c.proc.pid}/clear_refs`, '5'); // resets the peak to the current RSS
    const before = peakRss();
    const client = new Client(`127.0.0.1:${port}`, credentials.createSsl(readFileSync(cert)), { 'grpc.max_send_message_length': -1 });
    try {
      const body = loadExporterBytes(48 << 20);
      const results = await Promise.all(Array.from({ length: 6 }, () => rawCall(client, '/bpfwasm.v1.Collector/LoadExporter', body)));
      expect(results.map((r) => r.code)).toEqual(Array<number>(6).fill(GrpcStatus.UNAUTHENTICATED));
    } finally {
      client.close();
    }
    // Buffered bodies would be 288 MB.
    expect(peakRss() - before).toBeLessThan(48 << 20);
  });

  it('does not speak plaintext on the TCP port', async () => {
    const plain = new (apiProto().CollectorClient)(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as {
      GetStatus(r: unknown, m: Metadata, o: { deadline: number }, cb: (e: ServiceError | null) => void): void; close(): void;
    };
    try {
      const code = await new Promise<number>((resolve) => plain.GetStatus({}, new Metadata(), { deadline: Date.now() + 3000 }, (e) => resolve(e ? e.code : 0)));
      expect(code).not.toBe(GrpcStatus.OK);
    } finally {
      plain.close();
    }
  });

  it('the CLI: status over TLS with --ca and --token-file; a bad token is one line and exit 1', () => {
    const ok = spawnSync(process.execPath, [CLI, 'status', '--api', `127.0.0.1:${port}`, '--ca', cert, '--token-file', tokenFile], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^collector 0\.1\.0, up \d+s; helper \S+ up, 0 restarts; kernel \S+/);
    expect(ok.stdout).toMatch(/^process\s+attached\s+\S+\s+\d+/m);
    const bad = spawnSync(process.execPath, [CLI, 'status', '--api', `127.0.0.1:${port}`, '--ca', cert], {
      encoding: 'utf8', env: { ...process.env, BPFWASM_API_TOKEN: 'wrong' },
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`bpfwasm: the collector at 127.0.0.1:${port} refused the token: missing or wrong bearer token (metadata authorization: Bearer <token>)\n`);
    const none = spawnSync(process.execPath, [CLI, 'status', '--api', `127.0.0.1:${port}`, '--ca', cert], {
      encoding: 'utf8', env: { ...process.env, BPFWASM_API_TOKEN: '' },
    });
    expect(none.status).toBe(1);
    expect(none.stderr).toBe('bpfwasm: the TCP API needs a token: give --token-file FILE or set BPFWASM_API_TOKEN\n');
  });

  it('the CLI: a collector that is not there is one line and exit 1', () => {
    const r = spawnSync(process.execPath, [CLI, 'status', '--api', `unix:${join(dir, 'nobody.sock')}`], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`bpfwasm: cannot reach the collector at unix:${join(dir, 'nobody.sock')}: is \`bpfwasm run\` running?\n`);
  });
});

/** One call over TLS with the given authorization header; answers the status code (OK = 0). */
async function tlsCall(port: number, ca: string, authorization: string | undefined, method: 'GetStatus' | 'ListExporters' | 'Check'): Promise<number> {
  const proto = apiProto();
  const Ctor = method === 'Check' ? proto.HealthClient : proto.CollectorClient;
  const client = new Ctor(`127.0.0.1:${port}`, credentials.createSsl(readFileSync(ca))) as unknown as Record<string, (r: unknown, m: Metadata, o: object, cb: (e: ServiceError | null) => void) => void> & { close(): void };
  const md = new Metadata();
  if (authorization !== undefined) md.set('authorization', authorization);
  try {
    return await new Promise((resolve) => client[method]!({}, md, { deadline: Date.now() + 5000 }, (e) => resolve(e ? e.code : GrpcStatus.OK)));
  } finally {
    client.close();
  }
}
