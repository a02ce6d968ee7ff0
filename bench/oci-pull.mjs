// Pull and verify time of a 1 MB exporter module from a registry (issue #19): Debian's
// docker-registry on loopback, a signed artifact pushed once, then 20 fresh clients each
// resolve the tag, fetch the manifest and both blobs (digest-checked) and verify the ed25519
// signature: what a collector does before compiling a new version. Median, min and max.
// Run after `npm run build`: node bench/oci-pull.mjs  (needs docker-registry; not part of npm run bench)
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciClient } from '../dist/src/exporters/oci/client.js';
import { parseReference } from '../dist/src/exporters/oci/reference.js';
import { pullExporter, pushExporter } from '../dist/src/exporters/oci/transfer.js';
import { keyId, signModule, trustPolicy, verifyModule } from '../dist/src/exporters/host/signing.js';
import { freePort, machine, median } from './lib.mjs';

const RUNS = 20;
const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-registry-'));
const host = `127.0.0.1:${await freePort()}`;
writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: ${join(dir, 's')} } }\nhttp: { addr: ${host} }\n`);
const registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
try {
  for (let i = 0; !(await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false)); i++) {
    if (i > 100) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const policy = trustPolicy([{ id: keyId(publicKey), key: publicKey, source: 'bench' }], true);
  const module = Buffer.concat([Buffer.from('\0asm\x01\0\0\0'), randomBytes(1_000_000 - 8)]);
  const options = { plainHttp: true, timeoutMs: 10_000, maxBlobBytes: 4 << 20 };
  const ref = parseReference(`${host}/bench/module:v1`);
  await pushExporter(new OciClient(host, options), ref, { name: 'module', module, signature: signModule(module, privateKey) });
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const pulled = await pullExporter(new OciClient(host, options), ref, options.maxBlobBytes);
    verifyModule('module', pulled.module, pulled.signature, policy);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`${machine()}\npull + verify of a ${module.length}-byte module, ${RUNS} runs: median ${median(times).toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times.at(-1).toFixed(1)} ms`);
} finally {
  registry.kill();
  rmSync(dir, { recursive: true, force: true });
}
