// The OCI client against a real registry (Debian's docker-registry on loopback): push and pull
// an exporter artifact anonymously, with Basic auth (htpasswd), and with Bearer tokens (the
// registry's token mode, tokens issued by a token server in the test that speaks the spec).
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, MODULE_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE, sha256Digest } from '../../../src/exporters/oci/artifact.js';
import { OciClient, type OciClientOptions } from '../../../src/exporters/oci/client.js';
import { parseReference } from '../../../src/exporters/oci/reference.js';
import { pullExporter, pushExporter } from '../../../src/exporters/oci/transfer.js';
import { keyId, signModule } from '../../../src/exporters/host/signing.js';
import { BUILD_DIR, buildAll } from '../../../scripts/build-exporters.mjs';
import { startRegistry } from '../../support/registry.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
let module: Buffer;
beforeAll(async () => {
  await buildAll();
  module = readFileSync(join(BUILD_DIR, 'process.wasm'));
});

const options = (o: Partial<OciClientOptions> = {}): OciClientOptions => ({ plainHttp: true, timeoutMs: 5000, maxBlobBytes: 1 << 20, ...o });

describe('OCI client against docker-registry, anonymous', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry?.stop());

  it('pushes a signed artifact and pulls it back by tag and by digest, every blob verified', async () => {
    const client = new OciClient(registry.host, options());
    const ref = parseReference(`${registry.host}/bpfwasm/process:v1`);
    const signature = signModule(module, privateKey);
    const digest = await pushExporter(client, ref, { name: 'process', module, signature });
    const byTag = await pullExporter(client, ref, 1 << 20);
    expect(byTag.digest).toBe(digest);
    expect(byTag.module.equals(module)).toBe(true);
    expect(byTag.signature!.equals(signature)).toBe(true);
    expect(byTag.artifact).toMatchObject({ name: 'process', abiVersion: 1, signingKeyId: keyId(publicKey) });
    expect(byTag.artifact.module).toMatchObject({ mediaType: MODULE_MEDIA_TYPE, digest: sha256Digest(module), size: module.length });
    expect(byTag.artifact.signature).toMatchObject({ mediaType: SIGNATURE_MEDIA_TYPE, size: signature.length });
    const byDigest = await pullExporter(client, parseReference(`${registry.host}/bpfwasm/process@${digest}`), 1 << 20);
    expect(byDigest.module.equals(module)).toBe(true);
  });

  it('refuses what exceeds the size limit, and names what is missing', async () => {
    const client = new OciClient(registry.host, options());
    const ref = parseReference(`${registry.host}/bpfwasm/process:big`);
    await pushExporter(client, ref, { name: 'process', module });
    await expect(pullExporter(client, ref, 1000)).rejects.toMatchObject({ reason: 'bad_artifact', message: expect.stringMatching(/more than the limit of 1000/) });
    await expect(pullExporter(client, parseReference(`${registry.host}/bpfwasm/process:nope`), 1 << 20)).rejects.toMatchObject({ reason: 'not_found' });
  });

  it('a registry that is not there is unreachable, within the deadline', async () => {
    const client = new OciClient('127.0.0.1:1', options({ timeoutMs: 1000 }));
    await expect(pullExporter(client, parseReference('127.0.0.1:1/x/y:z'), 1 << 20)).rejects.toMatchObject({ reason: 'unreachable' });
  });
});

describe('OCI client against docker-registry with htpasswd (Basic challenge)', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { user: 'robot', password: 's3cret' } });
  });
  afterAll(async () => registry?.stop());

  it('without or with wrong credentials: auth; with the right ones: push and pull', async () => {
    const ref = parseReference(`${registry.host}/bpfwasm/process:v1`);
    await expect(pushExporter(new OciClient(registry.host, options()), ref, { name: 'process', module })).rejects.toMatchObject({ reason: 'auth' });
    await expect(pushExporter(new OciClient(registry.host, options({ username: 'robot', password: 'wrong' })), ref, { name: 'process', module }))
      .rejects.toMatchObject({ reason: 'auth' });
    const client = new OciClient(registry.host, options({ username: 'robot', password: 's3cret' }));
    const digest = await pushExporter(client, ref, { name: 'process', module });
    expect((await pullExporter(client, ref, 1 << 20)).digest).toBe(digest);
  });
});

describe('OCI client against docker-registry in token mode (Bearer challenge)', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let tokens: TokenServer;
  beforeAll(async () => {
    tokens = await startTokenServer({ user: 'robot', password: 's3cret' });
    registry = await startRegistry({ token: { realm: `${tokens.url}/token`, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certFile } });
  }, 30_000);
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  it('asks the realm for a token with service and scope, sends it as Bearer, and reuses it', async () => {
    const ref = parseReference(`${registry.host}/bpfwasm/process:v1`);
    const client = new OciClient(registry.host, options({ username: 'robot', password: 's3cret' }));
    const digest = await pushExporter(client, ref, { name: 'process', module });
    expect((await pullExporter(client, ref, 1 << 20)).digest).toBe(digest);
    // The scope the registry's challenge names (or the client's own): pull for reads, push too for the upload.
    const scopes = tokens.requests.map((r) => r.scope);
    for (const s of scopes) expect(s).toMatch(/^repository:bpfwasm\/process:(pull|push)(,(pull|push))?$/);
    expect(scopes.some((s) => s!.includes('push'))).toBe(true);
    for (const r of tokens.requests) expect(r.service).toBe(tokens.service);
    const issued = tokens.requests.length;
    await pullExporter(client, ref, 1 << 20);
    expect(tokens.requests.length).toBe(issued); // cached until expires_in
  });

  it('credentials the token service refuses: auth, and nothing is pulled', async () => {
    const client = new OciClient(registry.host, options({ username: 'robot', password: 'wrong' }));
    await expect(pullExporter(client, parseReference(`${registry.host}/bpfwasm/process:v1`), 1 << 20)).rejects.toMatchObject({ reason: 'auth' });
  });
});

interface TokenServer { url: string; service: string; issuer: string; certFile: string; requests: { service: string | null; scope: string | null }[]; stop(): Promise<void> }

/**
 * A token service as distribution's "Token Authentication Specification" describes: GET
 * realm?service=…&scope=… with Basic credentials answers {token, expires_in}, the token a JWT
 * (RS256, its certificate in x5c) granting the scope's actions, which the real registry verifies.
 */
async function startTokenServer(user: { user: string; password: string }): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-token-'));
  const certFile = join(dir, 'token.crt');
  const keyFile = join(dir, 'token.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=bpfwasm-test-token'], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(keyFile));
  const der = new X509Certificate(readFileSync(certFile)).raw;
  const service = 'bpfwasm-test-registry';
  const issuer = 'bpfwasm-test-issuer';
  const requests: TokenServer['requests'] = [];
  const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push({ service: url.searchParams.get('service'), scope: url.searchParams.get('scope') });
    const expected = `Basic ${Buffer.from(`${user.user}:${user.password}`).toString('base64')}`;
    if (url.pathname !== '/token' || req.headers.authorization !== expected) {
      res.writeHead(401).end();
      return;
    }
    const [type, name, actions] = (url.searchParams.get('scope') ?? '').split(':');
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] }));
    const claims = b64url(JSON.stringify({
      iss: issuer, sub: user.user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(),
      access: [{ type, name, actions: (actions ?? '').split(',') }],
    }));
    const signature = b64url(sign('sha256', Buffer.from(`${header}.${claims}`), key));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${signature}`, expires_in: 300 }));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, service, issuer, certFile, requests,
    stop: async () => {
      await new Promise((ok) => server.close(ok));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('OCI client against a hostile registry: every answer bounded and checked', () => {
  let server: ReturnType<typeof createServer>;
  let host: string;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
  beforeAll(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  });
  const pull = (o: Partial<OciClientOptions> = {}) => pullExporter(new OciClient(host, options({ timeoutMs: 1000, ...o })), parseReference(`${host}/a/b:t`), 1 << 20);

  it.each<[string, (req: IncomingMessage, res: ServerResponse) => void, string, RegExp]>([
    ['never answers', () => undefined, 'timeout', /no complete answer within 1000 ms/],
    ['answers headers, then stalls mid-body', (_q, res) => res.writeHead(200, { 'content-length': '100' }).write('{'), 'timeout', /within 1000 ms/],
    ['sends an endless manifest', (_q, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(16384, 32);
      const more = () => { while (res.write(chunk)); res.once('drain', more); };
      more();
    }, 'too_large', /more than the 65536 bytes expected/],
    ['declares a huge manifest', (_q, res) => res.writeHead(200, { 'content-length': String(1 << 30) }).end(), 'too_large', /1073741824 bytes/],
    ['claims another digest', (_q, res) => res.writeHead(200, { 'docker-content-digest': `sha256:${'0'.repeat(64)}` }).end('{}'), 'digest_mismatch', /Docker-Content-Digest/],
    ['answers garbage', (_q, res) => res.writeHead(200).end('\x00\xff not json'), 'bad_artifact', /not JSON/],
    ['answers 401 with an unknown challenge', (_q, res) => res.writeHead(401, { 'www-authenticate': 'Mystery x=y' }).end(), 'auth', /no challenge this client speaks/],
    ['answers 401 with a garbled challenge', (_q, res) => res.writeHead(401, { 'www-authenticate': 'Bearer realm="' }).end(), 'auth', /no challenge/],
    ['sends the token request to http', (_q, res) => res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://evil.example/token"' }).end(), 'auth', /not https/],
    ['answers 500 with a long body', (_q, res) => res.writeHead(500).end('x'.repeat(100_000)), 'bad_response', /HTTP 500/],
  ])('%s: %s', async (_what, h, reason, message) => {
    handler = h;
    const t = performance.now();
    await expect(pull()).rejects.toMatchObject({ reason, message: expect.stringMatching(message) });
    expect(performance.now() - t).toBeLessThan(3000);
  });

  it('a blob redirect loop ends after 3 hops', async () => {
    const module = Buffer.from('\0asm\x01\0\0\0');
    handler = (req, res) => {
      if (req.url!.includes('/manifests/')) res.writeHead(200).end(buildManifest({ name: 'b', abiVersion: 1, module, version: 'v' }));
      else res.writeHead(307, { location: req.url! }).end();
    };
    await expect(pull()).rejects.toMatchObject({ reason: 'bad_response', message: expect.stringMatching(/more than 3 redirects/) });
  });
});
