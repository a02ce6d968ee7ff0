// The Rust SDK's behaviour beyond its README's examples (which sdk.test.ts runs): it compiles
// without a warning on rustc 1.63, a panic in init refuses the module with its message, a batch
// larger than the static buffer grows memory, and forget clears caches before ids are reused.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { loadForTest } from '../../src/testing/index.js';
import { ROOT, RUST_FLAGS, RUST_SDK, buildRust } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, loadExporter, run, testHost, valueOf } from './helpers.js';
import { DEBIAN_RUSTC, useDebianRustc } from './rust.js';

/** A README block by its tag name, built with Debian's rustc. */
async function buildReadmeBlock(name: string): Promise<Uint8Array> {
  const readme = readFileSync(join(ROOT, 'exporters', 'sdk', 'rust', 'README.md'), 'utf8');
  const code = new RegExp(`<!-- test: rust ${name} -->\\n\`\`\`rust\\n([\\s\\S]*?)^\`\`\`$`, 'm').exec(readme)![1]!;
  const dir = freshTmpDir(`rust-sdk-${name}`);
  writeFileSync(join(dir, `${name}.rs`), code);
  await buildRust(join(dir, `${name}.rs`), join(dir, `${name}.wasm`));
  return readFileSync(join(dir, `${name}.wasm`));
}

let exits: Uint8Array;

beforeAll(async () => {
  useDebianRustc();
  exits = await buildReadmeBlock('rs-exits');
}, 60_000);

describe('Rust SDK', () => {
  it('compiles on rustc 1.63 without a warning', () => {
    expect(execFileSync(DEBIAN_RUSTC, ['--version'], { encoding: 'utf8' })).toMatch(/^rustc 1\.63\./);
    const out = freshTmpDir('rust-sdk-warnings');
    execFileSync(DEBIAN_RUSTC, [...RUST_FLAGS, '-D', 'warnings', '--crate-type', 'rlib', '--crate-name', 'bpfwasm', '--out-dir', out,
      join(RUST_SDK, 'lib.rs')], { stdio: 'pipe' });
  });

  it('a panic in init refuses the module with the panic message', async () => {
    const wasm = await buildReadmeBlock('exit_codes');
    await expect(loadForTest('exit_codes', wasm, { settings: { min: 'x' } }))
      .rejects.toThrow(/it logged: panicked at 'setting min must be a number', .*exit_codes\.rs:\d+:\d+/);
  });

  it('takes a batch larger than its 64 KiB static buffer', async () => {
    const t = await loadForTest('exits', exits);
    const n = 2000; // 2000 × 72 bytes: 140 KiB
    await t.feed(RecordType.process_exit, Array.from({ length: n }, (_, i) => ({ comm: i % 2 ? 'odd' : 'even' })));
    expect(t.value('example_exit_total', { comm: 'odd' })).toBe(n / 2);
    expect(t.value('example_exit_total', { comm: 'even' })).toBe(n / 2);
    expect(t.exporter.errors + t.exporter.traps + t.exporter.rejectedOps).toBe(0);
  });

  it('forget clears the caches, so a reused id never counts for its old label set', async () => {
    const host = testHost();
    const e = await loadExporter('exits', exits, host);
    expect(e.canForget).toBe(true);
    const exit = (comm: string) => encodeBatch(RecordType.process_exit, [{ comm }]);
    await run(e, RecordType.process_exit, exit('old'), 1);
    const idle = host.store.idleSeries('exits', -1);
    expect(await e.forget(idle)).toBe(true);
    host.store.free(idle);
    await run(e, RecordType.process_exit, exit('newcomer'), 1); // takes the freed id
    await run(e, RecordType.process_exit, exit('old'), 1); // interned again, not the cached id
    expect(valueOf(host.store, 'example_exit_total', { comm: 'newcomer' })).toBe(1);
    expect(valueOf(host.store, 'example_exit_total', { comm: 'old' })).toBe(1);
    expect(e.rejectedOps).toBe(0);
  });
});
