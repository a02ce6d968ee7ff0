// exporters/ABI.md, "Traps": operations a module queued but had not flushed when its batch
// trapped must not land with the next batch. The C SDK's bpfwasm_batch_begin drops them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildC } from '../../scripts/build-exporters.mjs';
import { loadForTest, RecordType } from '../../src/testing/index.js';
import { freshTmpDir } from './helpers.js';

let wasm: Uint8Array;

beforeAll(async () => {
  const out = join(freshTmpDir('trap-queue'), 'trap_keeps_queue.wasm');
  await buildC([join(import.meta.dirname, 'fixtures', 'trap_keeps_queue.c')], out);
  wasm = readFileSync(out);
}, 120_000);

describe('a trapped batch and the C SDK queue', () => {
  it.each([
    ['with bpfwasm_batch_begin, the trapped batch adds nothing to the next', '1', 1],
    ['without it, the trapped batch\'s two queued ops land with the next', '0', 3],
  ])('%s', async (_what, begin, expected) => {
    const t = await loadForTest('trap_queue', wasm, { settings: { begin } });
    await t.feed(RecordType.process_exec, [{ comm: 'ok' }, { comm: 'trap' }]);
    expect(t.exporter.traps).toBe(1);
    expect(t.value('queued_execs_total')).toBe(0); // nothing was flushed before the trap
    await t.feed(RecordType.process_exec, [{ comm: 'ok' }]);
    expect(t.value('queued_execs_total')).toBe(expected);
    await t.exporter.close();
  });
});
