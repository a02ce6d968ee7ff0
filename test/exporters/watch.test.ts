// Hot reload from a watched exporter directory: the folder is the desired state.
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { basename, join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExporterRegistry, moduleVersion } from '../../src/exporters/host/registry.js';
import { readTrustedKey, signModule, trustPolicy } from '../../src/exporters/host/signing.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { BUILD_DIR, buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, testHost, valueOf } from './helpers.js';
import { taggedVariant, watchedRegistry } from './watched.js';

let process: Uint8Array;
beforeAll(async () => {
  await buildAll();
  process = readFileSync(join(BUILD_DIR, 'process.wasm'));
});

const variant = (tag: string) => taggedVariant(process, tag);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function setup(dir = freshTmpDir('watch')) {
  const { host, registry, watcher, lines, close } = watchedRegistry(dir);
  cleanup.push(close);
  /** Writes a file the way deploy tools should: to a temporary name, then renamed into place. */
  const put = (file: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, `.${file}.tmp`), bytes);
    renameSync(join(dir, `.${file}.tmp`), join(dir, file));
  };
  const current = () => registry.describe().find((i) => i.name === 'mine')?.current;
  return { host, registry, dir, watcher, lines, put, current };
}

describe('exporter directory watch', () => {
  it('loads a new module, swaps a changed one, keeps the old on a broken one, unloads a removed one', async () => {
    const t = await setup();
    t.put('mine.wasm', process);
    await t.watcher.settled();
    expect(t.current()).toMatchObject({ version: moduleVersion(process), state: 'loaded', source: join(t.dir, 'mine.wasm') });

    // Its counts survive the swap: the store owns them.
    const exec = encodeBatch(RecordType.process_exec, [{ comm: 'w' }]);
    t.registry.dispatch(RecordType.process_exec, exec, 1);
    await t.registry.flush();
    const next = variant('2');
    t.put('mine.wasm', next);
    await t.watcher.settled();
    expect(t.current()!.version).toBe(moduleVersion(next));
    // One line per swap, the registry's (it has the versions and the time), not a second from the watcher.
    expect(t.host.logs.filter((l) => /swap/.test(l.msg)).map((l) => l.msg)).toEqual([
      expect.stringMatching(new RegExp(`^swapped version ${moduleVersion(process)} for ${moduleVersion(next)} from ${join(t.dir, 'mine.wasm')} in [\\d.]+ ms$`)),
    ]);
    t.registry.dispatch(RecordType.process_exec, exec, 1);
    await t.registry.flush();
    expect(valueOf(t.host.store, 'bpfwasm_process_exec_total', { comm: 'w' })).toBe(2);

    t.put('mine.wasm', Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 9, 9, 9]));
    await t.watcher.settled();
    expect(t.current()).toMatchObject({ version: moduleVersion(next), state: 'loaded' });
    expect(t.lines.some((l) => /^mine: not reloaded: EXPORTER_LOAD: mine: not a valid WebAssembly module/.test(l))).toBe(true);

    rmSync(join(t.dir, 'mine.wasm'));
    await t.watcher.settled();
    expect(t.current()).toBeUndefined();
    expect(t.lines).toContain(`mine: unloaded: ${join(t.dir, 'mine.wasm')} was removed`);
  });

  it('an unchanged module (touched, or only its .sig rewritten) is left alone', async () => {
    const t = await setup();
    t.put('mine.wasm', process);
    await t.watcher.settled();
    const loadedAt = t.current()!.loadedAtUnixMs;
    t.put('mine.wasm', process);
    await t.watcher.settled();
    expect(t.current()!.loadedAtUnixMs).toBe(loadedAt);
    expect(t.lines.filter((l) => !l.endsWith(`loaded from ${join(t.dir, 'mine.wasm')}`))).toEqual([]);
  });

  it('NAME.shadow.wasm runs as the candidate of NAME (a built-in too) while it exists', async () => {
    const t = await setup();
    await t.registry.load('mine', process, 'builtin');
    const candidate = variant('candidate');
    t.put('mine.shadow.wasm', candidate);
    await t.watcher.settled();
    const info = () => t.registry.describe().find((i) => i.name === 'mine')!;
    expect(info().shadow).toMatchObject({ version: moduleVersion(candidate), state: 'shadow', source: join(t.dir, 'mine.shadow.wasm') });
    expect(info().current).toMatchObject({ version: moduleVersion(process), source: 'builtin' });
    rmSync(join(t.dir, 'mine.shadow.wasm'));
    await t.watcher.settled();
    expect(info().shadow).toBeUndefined();
    expect(t.lines).toContain(`mine: shadow aborted: ${join(t.dir, 'mine.shadow.wasm')} was removed`);
  });

  it('a promoted directory shadow is kept by renaming it over NAME.wasm: quietly, and a restart loads it', async () => {
    const t = await setup();
    t.put('mine.wasm', process);
    await t.watcher.settled();
    const candidate = variant('promoted');
    t.put('mine.shadow.wasm', candidate);
    await t.watcher.settled();
    await t.registry.promote('mine');
    expect(t.current()).toMatchObject({ version: moduleVersion(candidate), source: join(t.dir, 'mine.shadow.wasm') });
    // What `bpfwasm exporters promote` tells the user to do.
    renameSync(join(t.dir, 'mine.shadow.wasm'), join(t.dir, 'mine.wasm'));
    await t.watcher.settled();
    expect(t.current()).toMatchObject({ version: moduleVersion(candidate) });
    expect(t.lines.filter((l) => /ignored|not reloaded|aborted/.test(l))).toEqual([]);
    // A restart: a fresh registry loads the directory, which now holds the promoted version.
    const restarted = new ExporterRegistry(testHost());
    cleanup.push(() => restarted.close());
    await restarted.loadFrom([t.dir]);
    expect(restarted.describe().find((i) => i.name === 'mine')!.current).toMatchObject({ version: moduleVersion(candidate) });
  });

  it('says a signed module was verified, on a first load and on a swap', async () => {
    const dir = freshTmpDir('watch-signed');
    const keys = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, '..', `${basename(dir)}.pub`), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    const trusted = readTrustedKey(join(dir, '..', `${basename(dir)}.pub`), 0);
    const { host, watcher, lines, close } = watchedRegistry(dir, { trust: trustPolicy([trusted], true) });
    cleanup.push(close);
    writeFileSync(join(dir, 'mine.wasm.sig'), signModule(process, keys.privateKey));
    writeFileSync(join(dir, 'mine.wasm'), process);
    await watcher.settled();
    expect(lines).toContain(`mine: loaded from ${join(dir, 'mine.wasm')} (signature verified, key ${trusted.id})`);
    const next = variant('signed');
    writeFileSync(join(dir, 'mine.wasm.sig'), signModule(next, keys.privateKey));
    writeFileSync(join(dir, 'mine.wasm'), next);
    await watcher.settled();
    expect(host.logs.map((l) => l.msg)).toContainEqual(expect.stringMatching(new RegExp(`^swapped version .* ms \\(signature verified, key ${trusted.id}\\)$`)));
  });

  describe('a signed swap, with signatures required: the module and its .sig in either order', () => {
    const SETTLE_MS = 300;
    async function signedSetup() {
      const dir = freshTmpDir('watch-order');
      const keys = generateKeyPairSync('ed25519');
      writeFileSync(join(dir, '..', `${basename(dir)}.pub`), keys.publicKey.export({ type: 'spki', format: 'pem' }));
      const trust = trustPolicy([readTrustedKey(join(dir, '..', `${basename(dir)}.pub`), 0)], true);
      const { host, registry, watcher, lines, close } = watchedRegistry(dir, { trust, settleMs: SETTLE_MS });
      cleanup.push(close);
      const put = (file: string, bytes: Uint8Array) => {
        writeFileSync(join(dir, `.${file}.tmp`), bytes);
        renameSync(join(dir, `.${file}.tmp`), join(dir, file));
      };
      const sign = (bytes: Uint8Array) => signModule(bytes, keys.privateKey);
      put('mine.wasm.sig', sign(process));
      put('mine.wasm', process);
      await watcher.settled();
      const version = () => registry.describe().find((i) => i.name === 'mine')?.current?.version;
      expect(version()).toBe(moduleVersion(process));
      const reloads = (result: string) => valueOf(host.store, 'bpfwasm_exporter_reloads_total', { exporter: 'mine', result });
      const waiting = () => lines.filter((l) => /does not match its signature yet/.test(l)).length;
      return { watcher, put, sign, version, reloads, waiting, lines };
    }

    it('.sig first, then the module: swapped at once, nothing rejected', async () => {
      const t = await signedSetup();
      const next = variant('sig-first');
      t.put('mine.wasm.sig', t.sign(next));
      t.put('mine.wasm', next);
      await t.watcher.settled();
      expect(t.version()).toBe(moduleVersion(next));
      expect([t.reloads('ok'), t.reloads('rejected'), t.waiting()]).toEqual([1, 0, 0]);
    });

    it('the module first, its .sig after the module settled: waited for, swapped, nothing rejected', async () => {
      const t = await signedSetup();
      const next = variant('module-first');
      t.put('mine.wasm', next);
      // The module was read against the old .sig: the watch now waits for the new one.
      await expect.poll(t.waiting, { timeout: 5 * SETTLE_MS }).toBe(1);
      expect(t.version()).toBe(moduleVersion(process));
      t.put('mine.wasm.sig', t.sign(next));
      await t.watcher.settled();
      expect(t.version()).toBe(moduleVersion(next));
      expect([t.reloads('ok'), t.reloads('rejected')]).toEqual([1, 0]);
    });

    it('a .sig that never comes: rejected once the settle window is over, the old version keeps running', async () => {
      const t = await signedSetup();
      const started = Date.now();
      t.put('mine.wasm', variant('never-signed'));
      await t.watcher.settled();
      expect(Date.now() - started).toBeGreaterThanOrEqual(2 * SETTLE_MS); // settled, then waited one more settle time
      expect(t.version()).toBe(moduleVersion(process));
      expect([t.reloads('ok'), t.reloads('rejected'), t.waiting()]).toEqual([0, 1, 1]);
      expect(t.lines).toContainEqual(expect.stringMatching(/^mine: not reloaded: EXPORTER_SIGNATURE_BAD: mine: tampered/));
    });
  });

  it('does not replace an exporter loaded from elsewhere (a built-in, the API)', async () => {
    const t = await setup();
    await t.registry.load('mine', process, 'builtin');
    copyFileSync(join(BUILD_DIR, 'forks.wasm'), join(t.dir, 'mine.wasm'));
    await t.watcher.settled();
    expect(t.current()).toMatchObject({ source: 'builtin', version: moduleVersion(process) });
    expect(t.lines).toContain(`mine: ${join(t.dir, 'mine.wasm')} ignored: exporter mine was loaded from builtin, not from this file`);
  });

  describe('a directory that goes away and comes back (issue #16, case 10: it used to stay dead, silently)', () => {
    const watched = (t: Awaited<ReturnType<typeof setup>>) => valueOf(t.host.store, 'bpfwasm_exporter_dir_watched', { dir: t.dir });
    const rewatches = (t: Awaited<ReturnType<typeof setup>>) => valueOf(t.host.store, 'bpfwasm_exporter_dir_rewatches_total', { dir: t.dir });
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(ok(), what).toBe(true);
    };

    it('removed and re-created: the loss and the return are logged and counted, and new files load again', async () => {
      const t = await setup();
      expect(watched(t)).toBe(1);
      t.put('mine.wasm', process);
      await t.watcher.settled();
      rmSync(t.dir, { recursive: true });
      await until('the loss noticed', () => watched(t) === 0);
      expect(t.lines).toContain(`registry: exporter directory ${t.dir} is gone: its new files are not seen until it is back; what runs keeps running`);
      await t.watcher.settled();
      expect(t.current()).toBeUndefined(); // its file was deleted before the directory

      mkdirSync(t.dir);
      await until('the return noticed', () => watched(t) === 1);
      expect(rewatches(t)).toBe(1);
      expect(t.lines).toContain(`registry: exporter directory ${t.dir} is back: watching it again, and bringing its modules in line`);
      t.put('mine.wasm', process);
      await t.watcher.settled();
      expect(t.current()).toMatchObject({ version: moduleVersion(process), state: 'loaded', source: join(t.dir, 'mine.wasm') });
    });

    it('replaced by another directory (moved into place): what the new one holds is brought in line', async () => {
      const t = await setup();
      const forks = readFileSync(join(BUILD_DIR, 'forks.wasm'));
      t.put('mine.wasm', process);
      t.put('other.wasm', forks);
      await t.watcher.settled();
      expect(t.registry.describe().find((i) => i.name === 'other')?.current?.state).toBe('loaded');
      const next = `${t.dir}.next`;
      mkdirSync(next);
      writeFileSync(join(next, 'mine.wasm'), variant('2'));
      rmSync(`${t.dir}.old`, { recursive: true, force: true });
      renameSync(t.dir, `${t.dir}.old`);
      renameSync(next, t.dir);
      await until('the new directory watched', () => rewatches(t) === 1 && watched(t) === 1);
      await t.watcher.settled();
      expect(t.current()).toMatchObject({ version: moduleVersion(variant('2')), source: join(t.dir, 'mine.wasm') });
      expect(t.registry.describe().find((i) => i.name === 'other')).toBeUndefined(); // not in the new directory
      t.put('third.wasm', forks); // its metrics were other's, which is gone
      await t.watcher.settled();
      expect(t.registry.describe().find((i) => i.name === 'third')?.current?.state).toBe('loaded');
    });

    it('missing at start: watched once it appears', async () => {
      const dir = join(freshTmpDir('watch'), 'later');
      const t = await setup(dir);
      expect(watched(t)).toBe(0);
      expect(t.lines).toContain(`registry: cannot watch exporter directory ${dir}: it does not exist; watching for it to appear`);
      mkdirSync(dir);
      await until('the directory watched', () => watched(t) === 1);
      t.put('mine.wasm', process);
      await t.watcher.settled();
      expect(t.current()?.state).toBe('loaded');
    });
  });
});
