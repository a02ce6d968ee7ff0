// Hot reload from a watched exporter directory: the folder is the desired state.
import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeU32 } from '../../src/exporters/memory-cap.js';
import { ExporterRegistry, moduleVersion } from '../../src/exporters/registry.js';
import { ExporterDirWatcher } from '../../src/exporters/watch.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { BUILD_DIR, buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, testHost, valueOf } from './helpers.js';

let process: Uint8Array;
beforeAll(async () => {
  await buildAll();
  process = readFileSync(join(BUILD_DIR, 'process.wasm'));
});

function variant(tag: string): Uint8Array {
  const name = Buffer.from('bpfwasm.test');
  const body = [...writeU32(name.length), ...name, ...Buffer.from(tag)];
  return Uint8Array.from([...process, 0, ...writeU32(body.length), ...body]);
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function setup() {
  const host = testHost();
  const registry = new ExporterRegistry(host);
  const dir = freshTmpDir('watch');
  const lines: string[] = [];
  const watcher = new ExporterDirWatcher({
    dirs: [dir], manager: registry, settleMs: 50,
    log: (exporter, level, msg) => {
      lines.push(`${exporter}: ${msg}`);
      host.log(exporter, level, msg);
    },
  });
  watcher.start();
  cleanup.push(async () => {
    await watcher.close();
    await registry.close();
  });
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

  it('does not replace an exporter loaded from elsewhere (a built-in, the API)', async () => {
    const t = await setup();
    await t.registry.load('mine', process, 'builtin');
    copyFileSync(join(BUILD_DIR, 'forks.wasm'), join(t.dir, 'mine.wasm'));
    await t.watcher.settled();
    expect(t.current()).toMatchObject({ source: 'builtin', version: moduleVersion(process) });
    expect(t.lines).toContain(`mine: ${join(t.dir, 'mine.wasm')} ignored: exporter mine was loaded from builtin, not from this file`);
  });
});
