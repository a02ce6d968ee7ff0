// Fleet rollout from a real OCI registry (Debian's docker-registry on loopback) to three real
// collectors on the real kernel, driven the way a user does it: `bpfwasm exporters push`.
// v1 reaches every node; v2 pushed to the canary tag runs as every node's shadow candidate;
// a badly signed and a truncated artifact are refused while v2 keeps running; moving the
// stable tag onto v2 promotes it everywhere; a registry that goes away breaks nothing. Every
// exec of a known process is counted exactly once per collector throughout.
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { buildManifest, EMPTY_CONFIG, sha256Digest } from '../../src/exporters/oci/artifact.js';
import { OciClient } from '../../src/exporters/oci/client.js';
import { moduleVersion } from '../../src/exporters/host/registry.js';
import { keyId, signModule } from '../../src/exporters/host/signing.js';
import { startRegistry } from '../support/registry.js';
import { CLI, ROOT, onlySensors, parseExposition, samples, scrape, startCollector, waitFor, type RunningCollector } from './support/collector.js';
import { uniqueBinary } from './support/processes.js';

const PROCESS_WASM = readFileSync(join(ROOT, 'exporters/build/process.wasm'));

/** The built-in module with a custom section appended: a new version that counts the same. */
function variant(tag: string): Buffer {
  const body = Buffer.concat([Buffer.from([4]), Buffer.from('test'), Buffer.from(tag)]);
  return Buffer.concat([PROCESS_WASM, Buffer.from([0, body.length]), body]);
}

describe('fleet rollout from an OCI registry to three collectors, on the real kernel', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
  const collectors: RunningCollector[] = [];
  let dir: string;
  let stable: string;
  let canary: string;
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const v1 = variant('v1');
  const v2 = variant('v2');

  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  /** Pushes `module` (written to a file first) with the CLI, signed by the trusted key unless a signature file is given. */
  const push = (module: Buffer, ref: string, sig?: string) => {
    const file = join(dir, `${moduleVersion(module)}.wasm`);
    writeFileSync(file, module);
    const signing = sig ? ['--sig', sig] : ['--key', join(dir, 'signing.key')];
    const r = cli('exporters', 'push', file, ref, '--name', 'process', ...signing, '--plain-http');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    return r.out;
  };
  const execs = async (c: RunningCollector, comm: string, path = '/metrics') => {
    const all = parseExposition(await (await fetch(`${c.url}${path}`)).text());
    let n = 0;
    for (const [k, v] of all) if (k.startsWith('bpfwasm_process_exec_total{') && k.includes(`comm="${comm}"`)) n += v;
    return n;
  };
  /** The process exporter's current and shadow versions, through the collector's gRPC API (no CLI process per probe). */
  const versions = async (c: RunningCollector) => {
    const client = new ApiClient({ api: `unix:${c.apiSocket}` });
    try {
      const p = (await client.listExporters()).find((e) => e.name === 'process');
      return { current: p?.current?.version, shadow: p?.shadow?.version, source: p?.current?.source };
    } finally {
      client.close();
    }
  };
  const everyCollector = (what: string, ok: (c: RunningCollector) => Promise<boolean> | boolean, timeoutMs = 20_000) =>
    Promise.all(collectors.map((c, i) => waitFor(`collector ${i}: ${what}`, async () => ((await ok(c)) ? true : undefined), timeoutMs).catch((e: Error) => {
      const log = c.output().split('\n').filter((l) => l.includes('"exporter":"process"')).slice(-8).join('\n');
      throw new Error(`${e.message}; its process exporter log:\n${log}`);
    })));
  const run = (path: string, times: number) => new Promise<void>((resolve, reject) => {
    const sh = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${times} ]; do "${path}"; i=$((i+1)); done`], { stdio: 'ignore' });
    sh.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });
  /** Runs a fresh binary `times` times and expects exactly that count on every collector (and on /metrics/shadow when given). */
  const countedExactly = async (prefix: string, times: number, shadowToo: boolean) => {
    const bin = uniqueBinary('/bin/true', prefix);
    await run(bin.path, times);
    await everyCollector(`${times} execs of ${bin.comm}`, async (c) => (await execs(c, bin.comm)) >= times);
    if (shadowToo) await everyCollector(`${times} execs of ${bin.comm} on /metrics/shadow`, async (c) => (await execs(c, bin.comm, '/metrics/shadow')) >= times);
    await new Promise((r) => setTimeout(r, 300)); // nothing late may arrive
    for (const c of collectors) {
      expect(await execs(c, bin.comm)).toBe(times);
      expect(await execs(c, bin.comm, '/metrics/shadow')).toBe(shadowToo ? times : 0);
    }
    return bin.comm;
  };
  const polls = async (c: RunningCollector, role: string, result: string) =>
    samples(await scrape(c), 'bpfwasm_exporter_oci_polls_total').get(`exporter="process",role="${role}",result="${result}"`) ?? 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bpfwasm-oci-'));
    writeFileSync(join(dir, 'signing.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'signing.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    registry = await startRegistry();
    stable = `${registry.host}/bpfwasm/process:stable`;
    canary = `${registry.host}/bpfwasm/process:canary`;
    push(v1, stable);
    push(v1, canary);
    const config = {
      sensors: onlySensors({ process: {} }),
      exporters: {
        queueBatches: 4096, requireSignatures: true, trustedKeys: [join(dir, 'signing.pub')],
        oci: [{ name: 'process', ref: stable, pollSeconds: 1 }, { name: 'process', ref: canary, pollSeconds: 1, shadow: true }],
        registries: { [registry.host]: { plainHttp: true } },
      },
    };
    collectors.push(...(await Promise.all([0, 1, 2].map(() => startCollector(config)))));
    // Three collectors start at once on a shared machine: more time than one needs.
    await Promise.all(collectors.map((c) => waitFor('collector /readyz', async () => {
      if (c.proc.exitCode !== null) throw new Error(`collector exited ${c.proc.exitCode}: ${c.output()}`);
      const res = await fetch(`${c.url}/readyz`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, 90_000)));
  }, 120_000);

  afterAll(async () => {
    for (const c of collectors) expect(await c.stop()).toBe(0);
    await registry?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('push v1: every collector pulls it, verified, and counts exactly', async () => {
    await everyCollector('running v1', async (c) => (await versions(c)).current === moduleVersion(v1));
    // v1 came through the canary tag (as the candidate, then promoted) or the stable one: both name it.
    for (const c of collectors) expect((await versions(c)).source).toMatch(new RegExp(`^oci:${registry!.host}/bpfwasm/process:(stable|canary)@sha256:[0-9a-f]{64}$`));
    const inspect = JSON.parse(cli('exporters', 'inspect', stable, '--plain-http', '--output', 'json').out) as Record<string, unknown>;
    expect(inspect).toMatchObject({ name: 'process', abiVersion: 1, version: moduleVersion(v1), signingKeyId: keyId(publicKey) });
    await countedExactly('bo1', 50, false);
  });

  it('push v2 to the canary tag: every collector runs it as the shadow candidate, both count the same', async () => {
    const t0 = performance.now();
    push(v2, canary);
    await everyCollector('shadowing v2', async (c) => (await versions(c)).shadow === moduleVersion(v2));
    // BENCHMARKS.md "Fleet rollout": tag push to every node running the candidate.
    console.log(`oci-rollout: canary tag pushed -> 3 collectors shadowing it in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const c of collectors) expect((await versions(c)).current).toBe(moduleVersion(v1));
    const comm = await countedExactly('bo2', 40, true);
    const text = await (await fetch(`${collectors[0]!.url}/metrics/shadow`)).text();
    expect(text).toContain(`bpfwasm_process_exec_total{comm="${comm}",bpfwasm_exporter_version="${moduleVersion(v2)}"} 40`);
  });

  it('a badly signed and a truncated artifact are refused; v2 keeps running as the candidate', async () => {
    // Signed, but the signature is v2's: the module does not match it.
    const v2sig = join(dir, 'v2.sig');
    writeFileSync(v2sig, signModule(v2, privateKey));
    push(variant('v3-bad-signature'), canary, v2sig);
    await everyCollector('refusing the bad signature', async (c) => (await polls(c, 'shadow', 'refused')) >= 1);
    // A manifest whose module layer the registry serves shorter than the manifest says.
    const client = new OciClient(registry!.host, { plainHttp: true, timeoutMs: 5000, maxBlobBytes: 1 << 20 });
    const v4 = variant('v4-truncated');
    const truncated = v4.subarray(0, v4.length - 100);
    await client.pushBlob('bpfwasm/process', EMPTY_CONFIG);
    await client.pushBlob('bpfwasm/process', truncated);
    const signature = signModule(v4, privateKey);
    await client.pushBlob('bpfwasm/process', signature);
    const manifest = JSON.parse(buildManifest({ name: 'process', abiVersion: 1, module: v4, signature, signingKeyId: keyId(publicKey), version: moduleVersion(v4) }).toString()) as {
      layers: { digest: string }[];
    };
    manifest.layers[0]!.digest = sha256Digest(truncated);
    await client.putManifest('bpfwasm/process', 'canary', Buffer.from(JSON.stringify(manifest)));
    await everyCollector('refusing the truncated blob', async (c) => (await polls(c, 'shadow', 'digest_mismatch')) >= 1);
    for (const c of collectors) expect(await versions(c)).toMatchObject({ current: moduleVersion(v1), shadow: moduleVersion(v2) });
    await countedExactly('bo3', 30, true);
  });

  it('moving the stable tag onto v2 promotes it on every collector, with exact counts', async () => {
    const t0 = performance.now();
    push(v2, stable);
    await everyCollector('running v2', async (c) => {
      const v = await versions(c);
      return v.current === moduleVersion(v2) && v.shadow === undefined;
    });
    console.log(`oci-rollout: stable tag moved -> 3 collectors promoted it in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await countedExactly('bo4', 30, false);
  });

  it('the registry stopped mid-poll: failures are counted, nothing breaks, counts stay exact', async () => {
    await registry!.stop();
    registry = undefined;
    await everyCollector('counting the registry as unreachable', async (c) => (await polls(c, 'current', 'unreachable')) >= 1);
    for (const c of collectors) expect(await versions(c)).toMatchObject({ current: moduleVersion(v2) });
    await countedExactly('bo5', 20, false);
    for (const c of collectors) expect((await fetch(`${c.url}/readyz`)).status).toBe(200);
  });
});
