// The SDK READMEs' examples are real: compile each as a user would, load it, feed it a batch.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadExporter } from '../../src/exporters/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { ROOT, buildAssemblyScript, buildC } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, testHost, valueOf } from './helpers.js';

const SDK = join(ROOT, 'exporters', 'sdk');

/** The first fenced block of `lang` in an SDK README. */
function example(readme: string, lang: string): string {
  const text = readFileSync(join(SDK, readme), 'utf8');
  const block = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(text);
  if (!block?.[1]) throw new Error(`${readme} has no \`\`\`${lang} example`);
  return block[1];
}

describe('SDK README examples', () => {
  it('AssemblyScript: compiles and counts execs by comm', async () => {
    // Lay it out as the README says, exporters/<name>/index.ts beside exporters/sdk/.
    const base = freshTmpDir('as-example');
    cpSync(SDK, join(base, 'exporters', 'sdk'), { recursive: true });
    mkdirSync(join(base, 'exporters', 'execs'));
    const entry = join(base, 'exporters', 'execs', 'index.ts');
    writeFileSync(entry, example('assemblyscript/README.md', 'ts'));
    const out = join(base, 'execs.wasm');
    await buildAssemblyScript(entry, out, { baseDir: base, sdkDir: join(base, 'exporters', 'sdk', 'assemblyscript') });

    const host = testHost();
    const exporter = await loadExporter('execs', readFileSync(out), host);
    const type = RecordType.process_exec;
    exporter.onBatch(type, encodeBatch(type, [{ comm: 'sh' }, { comm: 'sh' }, { comm: 'awk' }]), 3);
    expect(valueOf(host.store, 'example_exec_total', { comm: 'sh' })).toBe(2);
    expect(valueOf(host.store, 'example_exec_total', { comm: 'awk' })).toBe(1);
    expect(exporter.errors + exporter.traps + exporter.rejectedOps).toBe(0);
  });

  it('C: compiles and counts exits by comm', async () => {
    const dir = freshTmpDir('c-example');
    writeFileSync(join(dir, 'exits.c'), example('c/README.md', 'c'));
    await buildC([join(dir, 'exits.c')], join(dir, 'exits.wasm'));

    const host = testHost();
    const exporter = await loadExporter('exits', readFileSync(join(dir, 'exits.wasm')), host);
    const type = RecordType.process_exit;
    exporter.onBatch(type, encodeBatch(type, [{ comm: 'cc1' }, { comm: 'ld' }, { comm: 'cc1' }]), 3);
    expect(valueOf(host.store, 'example_exit_total', { comm: 'cc1' })).toBe(2);
    expect(valueOf(host.store, 'example_exit_total', { comm: 'ld' })).toBe(1);
    expect(exporter.errors + exporter.traps + exporter.rejectedOps).toBe(0);
  });
});
