// Idle series expire without a restart, and a reused series id is never attributed to the
// label set it used to have: the exporter forgets its cached ids first (bpfwasm_forget).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { serializeText } from '../../src/metrics/exposition.js';
import { BUILD_DIR, buildAll, buildC } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, testHost, valueOf, loadExporter, run } from './helpers.js';

const EXEC = RecordType.process_exec;

beforeAll(async () => {
  await buildAll();
});

const exec = (comm: string, n = 1) => encodeBatch(EXEC, Array.from({ length: n }, () => ({ comm })));

describe('idle series expiry', () => {
  it('expires idle series, reuses their ids, and counts the next event under the right labels', async () => {
    const host = testHost();
    const store = host.store;
    const e = await loadExporter('process', readFileSync(join(BUILD_DIR, 'process.wasm')), host);
    expect(e.canForget).toBe(true);

    await run(e, EXEC, exec('old', 3), 3);
    store.now = 100;
    await run(e, EXEC, exec('fresh'), 1);
    const idle = store.idleSeries('process', 50);
    expect(idle.map((id) => store.seriesLabels[id])).toEqual(['comm="old"']);

    expect(await e.forget(idle)).toBe(true);
    store.free(idle);
    expect(serializeText(store)).not.toContain('comm="old"');
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'fresh' })).toBe(1);

    // A new comm takes the freed id; the old comm comes back under a new id, from zero.
    await run(e, EXEC, exec('newcomer', 2), 2);
    await run(e, EXEC, exec('old'), 1);
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'newcomer' })).toBe(2);
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'old' })).toBe(1);
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'fresh' })).toBe(1);
    expect(e.rejectedOps).toBe(0);
  });

  it('keeps the series of a module without bpfwasm_forget', async () => {
    const host = testHost();
    const out = join(freshTmpDir('expiry'), 'probe.wasm');
    await buildC([join(import.meta.dirname, 'fixtures', 'probe.c')], out);
    const e = await loadExporter('probe', readFileSync(out), host);
    expect(e.canForget).toBe(false);
    expect(await e.forget([0])).toBe(false);
  });

  it('revokes ownership: an update through a forgotten id is rejected, not applied to its next owner', async () => {
    const host = testHost();
    const store = host.store;
    const e = await loadExporter('process', readFileSync(join(BUILD_DIR, 'process.wasm')), host);
    await run(e, EXEC, exec('gone'), 1);
    const ids = store.idleSeries('process', -1);
    expect(await e.forget(ids)).toBe(true);
    store.free(ids);
    // Another owner takes the id over.
    const other = store.declare('other', { name: 'other_total', help: 'h', kind: 'counter', labelNames: [] });
    const reused = store.series(other, []);
    expect(ids).toContain(reused);
    // The process exporter re-interns on its next batch, so the other owner's value is untouched.
    await run(e, EXEC, exec('gone'), 1);
    expect(store.value(reused)).toBe(0);
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'gone' })).toBe(1);
  });
});

describe('exporter reload', () => {
  it('keeps counting the same series from where the old instance left off (no false reset)', async () => {
    const host = testHost();
    const bytes = readFileSync(join(BUILD_DIR, 'process.wasm'));
    const first = await loadExporter('process', bytes, host);
    await run(first, EXEC, exec('sh', 5), 5);
    const second = await loadExporter('process', bytes, host); // the reloaded module, same store
    await run(second, EXEC, exec('sh', 2), 2);
    expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'sh' })).toBe(7);
    expect(second.rejectedOps).toBe(0);
  });
});
