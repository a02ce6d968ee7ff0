// The registry source's decisions, against a real docker-registry and a real ExporterRegistry:
// load, unchanged, swap, shadow then promotion by moving the tag, a refusal remembered per
// digest, an artifact of another exporter, and a registry gone: each poll's outcome counted.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeU32 } from '../../../src/exporters/worker/memory-cap.js';
import { OciClient } from '../../../src/exporters/oci/client.js';
import { parseReference } from '../../../src/exporters/oci/reference.js';
import { OciExporterSource } from '../../../src/exporters/oci/source.js';
import { pushExporter } from '../../../src/exporters/oci/transfer.js';
import { ExporterRegistry, moduleVersion } from '../../../src/exporters/host/registry.js';
import { keyId, signModule, trustPolicy } from '../../../src/exporters/host/signing.js';
import { BUILD_DIR, buildAll } from '../../../scripts/build-exporters.mjs';
import { startRegistry } from '../../support/registry.js';
import { testHost, valueOf } from '../helpers.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const TRUST = trustPolicy([{ id: keyId(publicKey), key: publicKey, source: 'test' }], true);
let base: Uint8Array;
beforeAll(async () => {
  await buildAll();
  base = readFileSync(join(BUILD_DIR, 'process.wasm'));
});

function version(tag: string): Buffer {
  const name = Buffer.from('bpfwasm.test');
  const body = [...writeU32(name.length), ...name, ...Buffer.from(tag)];
  return Buffer.from([...base, 0, ...writeU32(body.length), ...body]);
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup() {
  const reg = await startRegistry();
  let stopped = false;
  cleanup.push(async () => {
    if (!stopped) await reg.stop();
  });
  const host = testHost();
  const registry = new ExporterRegistry(host, TRUST);
  const client = new OciClient(reg.host, { plainHttp: true, timeoutMs: 2000, maxBlobBytes: 1 << 20 });
  const stable = `${reg.host}/b/mine:stable`;
  const canary = `${reg.host}/b/mine:canary`;
  const source = new OciExporterSource({
    entries: [{ name: 'mine', ref: stable, pollSeconds: 3600, shadow: false }, { name: 'mine', ref: canary, pollSeconds: 3600, shadow: true }],
    manager: registry, client: () => client, maxModuleBytes: 1 << 20, store: host.store,
    log: (exporter, level, msg) => host.log(exporter, level, msg),
  });
  cleanup.push(async () => {
    await source.close();
    await registry.close();
  });
  const push = (ref: string, bytes: Buffer, o: { name?: string; signature?: Buffer } = {}) =>
    pushExporter(client, parseReference(ref), { name: o.name ?? 'mine', module: bytes, signature: o.signature ?? signModule(bytes, privateKey) });
  const info = () => registry.describe().find((i) => i.name === 'mine');
  const polls = (role: string, result: string) => valueOf(host.store, 'bpfwasm_exporter_oci_polls_total', { exporter: 'mine', role, result });
  const stop = async () => {
    stopped = true;
    await reg.stop();
  };
  return { source, push, info, polls, stable, canary, host, stop };
}

describe('OCI exporter source', () => {
  it('loads, leaves an unchanged tag alone, shadows the canary, and promotes when the stable tag moves onto it', async () => {
    const t = await setup();
    const v1 = version('1');
    const v2 = version('2');
    await t.push(t.stable, v1);
    await t.push(t.canary, v1);
    await t.source.pollAll();
    expect(t.info()).toMatchObject({ current: { version: moduleVersion(v1), signedBy: keyId(publicKey) }, shadow: undefined });
    expect(t.polls('current', 'updated')).toBe(1);
    expect(t.polls('shadow', 'unchanged')).toBe(1); // the same version as the current one: nothing to shadow

    await t.source.pollAll();
    expect(t.polls('current', 'unchanged')).toBe(1);

    await t.push(t.canary, v2);
    await t.source.pollAll();
    expect(t.info()).toMatchObject({ current: { version: moduleVersion(v1) }, shadow: { version: moduleVersion(v2) } });

    await t.push(t.stable, v2);
    await t.source.pollAll();
    expect(t.info()).toMatchObject({ current: { version: moduleVersion(v2) }, shadow: undefined });
    expect(t.host.logs.some((l) => l.msg.startsWith(`promoted shadow candidate ${moduleVersion(v2)}: oci:${t.stable}@sha256:`))).toBe(true);
  });

  it('a refused version is remembered by digest (not pulled again), another exporter\'s artifact is bad_artifact, and a gone registry is unreachable', async () => {
    const t = await setup();
    const v1 = version('1');
    await t.push(t.stable, v1);
    await t.push(t.canary, v1);
    await t.source.pollAll();
    await t.push(t.stable, version('tampered'), { signature: signModule(version('other'), privateKey) });
    await t.source.pollAll();
    await t.source.pollAll();
    expect(t.polls('current', 'refused')).toBe(1);
    expect(t.polls('current', 'unchanged')).toBe(1);
    expect(t.info()!.current!.version).toBe(moduleVersion(v1));
    expect(t.host.logs.some((l) => /refused: EXPORTER_SIGNATURE_BAD: mine: tampered/.test(l.msg))).toBe(true);

    await t.push(t.stable, version('x'), { name: 'tcp' });
    await t.source.pollAll();
    expect(t.polls('current', 'bad_artifact')).toBe(1);

    await t.stop();
    await t.source.pollAll();
    expect(t.polls('current', 'unreachable')).toBe(1);
    expect(t.polls('shadow', 'unreachable')).toBe(1);
    expect(t.info()!.current!.version).toBe(moduleVersion(v1));
  });
});
