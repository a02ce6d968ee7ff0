// Exporters from a mounted Kubernetes ConfigMap: the kubelet's atomic writer swaps `..data` to a
// new timestamped directory on every update, so the watch must notice that one rename and read
// each module with the signature of the same version. Signatures are required throughout, so a
// module paired with another version's signature would be refused and show up here.
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DATA_LINK, readModuleSnapshot } from '../../src/exporters/host/configmap.js';
import { moduleVersion } from '../../src/exporters/host/registry.js';
import { keyId, readTrustedKey, signModule, trustPolicy, verifyModule } from '../../src/exporters/host/signing.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { BUILD_DIR, buildAll } from '../../scripts/build-exporters.mjs';
import { atomicWrite } from '../support/atomic-writer.js';
import { encodeBatch, freshTmpDir, valueOf } from './helpers.js';
import { taggedVariant, watchedRegistry } from './watched.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const KEY_ID = keyId(publicKey);
const TRUST = trustPolicy([readTrustedKey(publicKey.export({ type: 'spki', format: 'pem' }) as string, 0)], true);
let base: Uint8Array;
beforeAll(async () => {
  await buildAll();
  base = readFileSync(join(BUILD_DIR, 'process.wasm'));
});

/** The process exporter with a custom section: a distinct version that counts the same. */
const version = (tag: string) => taggedVariant(base, tag);

/** A module and its signature as two ConfigMap keys. */
function signed(key: string, bytes: Uint8Array): Record<string, Uint8Array> {
  return { [key]: bytes, [`${key}.sig`]: signModule(bytes, privateKey) };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

function setup() {
  const dir = freshTmpDir('configmap');
  const { host, registry, watcher, lines, close } = watchedRegistry(dir, { trust: TRUST });
  cleanup.push(close);
  const info = () => registry.describe().find((i) => i.name === 'mine');
  /** One exec record of `comm` through every loaded version of every exporter. */
  const exec = async (comm: string, n: number) => {
    for (let i = 0; i < n; i++) registry.dispatch(RecordType.process_exec, encodeBatch(RecordType.process_exec, [{ comm }]), 1);
    await registry.flush();
  };
  const execs = (comm: string) => valueOf(host.store, 'bpfwasm_process_exec_total', { comm });
  const shadowExecs = (comm: string) => valueOf(registry.shadowStore, 'bpfwasm_process_exec_total', { comm, bpfwasm_exporter_version: info()!.shadow!.version });
  return { dir, host, registry, watcher, lines, info, exec, execs, shadowExecs };
}

describe('exporters from a mounted ConfigMap (kubelet atomic-writer layout)', () => {
  it('the on-disk layout is the atomic writer\'s: KEY -> ..data/KEY, ..data -> ..TIMESTAMP', () => {
    const dir = freshTmpDir('configmap-layout');
    atomicWrite(dir, signed('mine.wasm', version('1')));
    const ts = readlinkSync(join(dir, DATA_LINK));
    expect(ts).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+$/);
    expect(readdirSync(dir).sort()).toEqual([ts, DATA_LINK, 'mine.wasm', 'mine.wasm.sig'].sort());
    expect(readlinkSync(join(dir, 'mine.wasm'))).toBe('..data/mine.wasm');
    atomicWrite(dir, signed('other.wasm', version('2')));
    const ts2 = readlinkSync(join(dir, DATA_LINK));
    expect(ts2).not.toBe(ts);
    expect(readdirSync(dir).sort()).toEqual([ts2, DATA_LINK, 'other.wasm', 'other.wasm.sig'].sort());
  });

  it('add, change, shadow file, remove: each update acted on once, verified, counts kept across the swap', async () => {
    const t = setup();
    const v1 = version('1');
    atomicWrite(t.dir, signed('mine.wasm', v1));
    await t.watcher.settled();
    expect(t.info()!.current).toMatchObject({ version: moduleVersion(v1), state: 'loaded', source: join(t.dir, 'mine.wasm'), signedBy: KEY_ID });
    await t.exec('cm', 3);

    // Change: only `..data` is renamed; the key links stay as they were.
    const v2 = version('2');
    atomicWrite(t.dir, signed('mine.wasm', v2));
    await t.watcher.settled();
    expect(t.info()!.current).toMatchObject({ version: moduleVersion(v2), signedBy: KEY_ID });
    await t.exec('cm', 4);
    expect(t.execs('cm')).toBe(7);

    // A shadow key added in the same ConfigMap runs as the candidate and counts beside the current version.
    const v3 = version('3');
    atomicWrite(t.dir, { ...signed('mine.wasm', v2), ...signed('mine.shadow.wasm', v3) });
    await t.watcher.settled();
    expect(t.info()!.shadow).toMatchObject({ version: moduleVersion(v3), state: 'shadow', signedBy: KEY_ID });
    await t.exec('both', 5);
    expect(t.execs('both')).toBe(5);
    expect(t.shadowExecs('both')).toBe(5);

    // The shadow key removed from the ConfigMap: the candidate is aborted, the current one untouched.
    atomicWrite(t.dir, signed('mine.wasm', v2));
    await t.watcher.settled();
    expect(t.info()!.shadow).toBeUndefined();
    expect(t.info()!.current!.version).toBe(moduleVersion(v2));

    // The key removed: unloaded.
    atomicWrite(t.dir, {});
    await t.watcher.settled();
    expect(t.info()).toBeUndefined();
    expect(t.lines).toEqual([
      // The swap to v2 is logged once, by the registry (with both versions), not by the watcher.
      `mine: loaded from ${join(t.dir, 'mine.wasm')} (signature verified, key ${KEY_ID})`,
      `mine: shadow candidate started from ${join(t.dir, 'mine.shadow.wasm')}`,
      `mine: shadow aborted: ${join(t.dir, 'mine.shadow.wasm')} was removed`,
      `mine: unloaded: ${join(t.dir, 'mine.wasm')} was removed`,
    ]);
  });

  it('an update whose signature does not match its module is refused, and the running version keeps counting', async () => {
    const t = setup();
    const v1 = version('1');
    atomicWrite(t.dir, signed('mine.wasm', v1));
    await t.watcher.settled();
    atomicWrite(t.dir, { 'mine.wasm': version('2'), 'mine.wasm.sig': signModule(version('other'), privateKey) });
    await t.watcher.settled();
    expect(t.info()!.current!.version).toBe(moduleVersion(v1));
    expect(t.lines.at(-1)).toMatch(/^mine: not reloaded: EXPORTER_SIGNATURE_BAD: mine: tampered/);
    await t.exec('kept', 2);
    expect(t.execs('kept')).toBe(2);
  });

  it('40 updates in quick succession: never a module read with another version\'s signature, and the last one runs', async () => {
    const t = setup();
    let last = version('0');
    for (let i = 0; i < 40; i++) {
      last = version(`rapid-${i}`);
      atomicWrite(t.dir, signed('mine.wasm', last));
      await new Promise((r) => setTimeout(r, 5 + (i % 4) * 20)); // some settle, some coalesce
    }
    await t.watcher.settled();
    expect(t.info()!.current).toMatchObject({ version: moduleVersion(last), signedBy: KEY_ID });
    expect(t.lines.filter((l) => !/^mine: (loaded|swapped in the new version) from /.test(l))).toEqual([]);
  });

  it('reads racing updates always pair a module with the signature of its own version', async () => {
    const dir = freshTmpDir('configmap-race');
    atomicWrite(dir, signed('mine.wasm', version('race-start')));
    let writing = true;
    let reads = 0;
    let outpaced = 0;
    // Readers run while the writer swaps versions between their steps (module, .sig, ..data re-check).
    const reader = async () => {
      while (writing) {
        const f = await readModuleSnapshot(join(dir, 'mine.wasm')).catch((e: Error) => {
          expect(e.message).toMatch(/changed on every one of 6 reads$/); // retried later by the watch, never half-read
          outpaced++;
        });
        if (f === undefined) continue;
        expect(verifyModule('mine', f.bytes, f.signature, TRUST).state).toBe('verified');
        reads++;
      }
    };
    const readers = [reader(), reader(), reader()];
    for (let i = 0; i < 150; i++) {
      atomicWrite(dir, signed('mine.wasm', version(`race-${i}`)));
      await new Promise((r) => setTimeout(r, 5)); // a read takes about as long: most of them overlap a write
    }
    writing = false;
    await Promise.all(readers);
    expect(reads).toBeGreaterThan(20);
    expect(outpaced).toBeLessThan(reads);
  });
});
