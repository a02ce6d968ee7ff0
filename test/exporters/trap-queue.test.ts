// exporters/ABI.md, "Traps": operations a module queued but had not flushed when its batch
// trapped must not land with the next batch. The C SDK's bpfwasm_batch_begin and the
// AssemblyScript SDK's batchBegin drop them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildAssemblyScript, buildC } from '../../scripts/build-exporters.mjs';
import { loadForTest, RecordType } from '../../src/testing/index.js';
import { freshTmpDir } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const wasm: Record<string, Uint8Array> = {};

beforeAll(async () => {
  const dir = freshTmpDir('trap-queue');
  await buildC([join(FIXTURES, 'trap_keeps_queue.c')], join(dir, 'c.wasm'));
  await buildAssemblyScript(join(FIXTURES, 'trap_keeps_queue_as.ts'), join(dir, 'as.wasm'));
  for (const sdk of ['c', 'as']) wasm[sdk] = readFileSync(join(dir, `${sdk}.wasm`));
}, 120_000);

describe('a trapped batch and the SDK queue', () => {
  it.each([
    ['C, with bpfwasm_batch_begin: the trapped batch adds nothing to the next', 'c', '1', 1],
    ['C, without it: the trapped batch\'s two queued ops land with the next', 'c', '0', 3],
    ['AssemblyScript, with batchBegin: the trapped batch adds nothing to the next', 'as', '1', 1],
    ['AssemblyScript, without it: the trapped batch\'s two queued ops land with the next', 'as', '0', 3],
  ])('%s', async (_what, sdk, begin, expected) => {
    const t = await loadForTest('trap_queue', wasm[sdk]!, { settings: { begin } });
    await t.feed(RecordType.process_exec, [{ comm: 'ok' }, { comm: 'trap' }]);
    expect(t.exporter.traps).toBe(1);
    expect(t.value('queued_execs_total')).toBe(0); // nothing was flushed before the trap
    await t.feed(RecordType.process_exec, [{ comm: 'ok' }]);
    expect(t.value('queued_execs_total')).toBe(expected);
    await t.exporter.close();
  });
});
