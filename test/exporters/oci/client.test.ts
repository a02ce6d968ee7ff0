// The OCI client against a real registry (Debian's docker-registry on loopback): push and pull
// an exporter artifact anonymously, with Basic auth (htpasswd), and with Bearer tokens (the
// registry's token mode, tokens issued by a token server in the test that speaks the spec).
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE, sha256Digest } from '../../../src/exporters/oci/artifact.js';
import { OciClient, type OciClientOptions } from '../../../src/exporters/oci/client.js';
import { parseReference } from '../../../src/exporters/oci/reference.js';
import { pullExporter, pushExporter } from '../../../src/exporters/oci/transfer.js';
import { keyId, signModule } from '../../../src/exporters/signing.js';
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
