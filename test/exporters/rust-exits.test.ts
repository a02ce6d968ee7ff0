// The Rust example exporter (exporters/examples/rust-exits, on the Rust SDK) on synthetic
// batches through the runtime's test kit: labels, signal names, lifetimes, the setting, size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildExporter, loadForTest, RecordType, type LoadedForTest } from '../../src/testing/index.js';
import { ROOT } from '../../scripts/build-exporters.mjs';
import { freshTmpDir } from './helpers.js';
import { useDebianRustc } from './rust.js';

const EXITS = 'bpfwasm_example_rust_exits_total';
const LIFETIME = 'bpfwasm_example_rust_lifetime_seconds';
const SIGNALS = { 7: { '9': 'SIGKILL', '15': 'SIGTERM' } };
let wasm: Uint8Array;

beforeAll(async () => {
  useDebianRustc();
  wasm = readFileSync(await buildExporter(join(ROOT, 'exporters', 'examples', 'rust-exits'), join(freshTmpDir('rust-exits'), 'rust-exits.wasm')));
}, 60_000);

const clean = (t: LoadedForTest) => expect(t.exporter.errors + t.exporter.traps + t.exporter.rejectedOps + t.exporter.rejectedCalls).toBe(0);

describe('Rust example exporter rust-exits', () => {
  it('is a stripped module of at most 50 KB', () => {
    expect(wasm.byteLength).toBeLessThanOrEqual(50 * 1024);
    const sections = WebAssembly.Module.customSections(new WebAssembly.Module(new Uint8Array(wasm)), 'name');
    expect(sections).toEqual([]); // stripped: no name section
  });

  it('counts exits by comm and exit code or signal name, and observes lifetimes', async () => {
    const t = await loadForTest('rust-exits', wasm, { names: SIGNALS });
    await t.feed(RecordType.process_exit, [
      { comm: 'make', exit_code: 0, lifetime_ns: 2_000_000 },
      { comm: 'make', exit_code: 2, lifetime_ns: 3_000_000_000 },
      { comm: 'make', exit_code: 0, lifetime_ns: 500_000 },
      { comm: 'java', exit_signal: 9, lifetime_ns: 70_000_000_000 },
      { comm: 'java', exit_signal: 40, lifetime_ns: 1 },
      { comm: 'sh', exit_code: 255 },
    ]);
    await t.feed(RecordType.process_exit, [{ comm: 'make', exit_code: 2 }, { comm: 'java', exit_signal: 9 }]);
    expect(t.value(EXITS, { comm: 'make', outcome: '0' })).toBe(2);
    expect(t.value(EXITS, { comm: 'make', outcome: '2' })).toBe(2);
    expect(t.value(EXITS, { comm: 'java', outcome: 'SIGKILL' })).toBe(2);
    expect(t.value(EXITS, { comm: 'java', outcome: '40' })).toBe(1); // no name: the number
    expect(t.value(EXITS, { comm: 'sh', outcome: '255' })).toBe(1);
    const make = t.histogram(LIFETIME, { comm: 'make' });
    expect(make.cumulative).toEqual([2, 3, 3, 3, 4, 4, 4, 4]); // 0, 0.5 ms, 2 ms, 3 s by bounds 0.001 … 600, +Inf
    expect(make.sum).toBeCloseTo(3.0025, 9);
    expect(t.histogram(LIFETIME, { comm: 'java' }).cumulative).toEqual([2, 2, 2, 2, 2, 2, 3, 3]);
    expect(t.logs).toEqual([{ level: 1, msg: `{"event":"rust_exits_started","max_lifetime_ns":${2n ** 64n - 1n}}`, fields: { event: 'rust_exits_started', max_lifetime_ns: 18446744073709552000 } }]);
    clean(t);
  });

  it('falls back to ASCII for a comm that is not label text', async () => {
    const t = await loadForTest('rust-exits', wasm);
    await t.feed(RecordType.process_exit, [{ comm: new Uint8Array([0x6b, 0x01, 0xff, 0x77]), exit_code: 1 }]);
    expect(t.value(EXITS, { comm: 'k??w', outcome: '1' })).toBe(1);
    expect(t.exporter.errors + t.exporter.traps + t.exporter.rejectedOps).toBe(0);
  });

  it('returns an error for a batch of another record type, and counts nothing', async () => {
    const t = await loadForTest('rust-exits', wasm);
    await t.feed(RecordType.process_exec, [{ comm: 'sh' }]);
    expect(t.exporter.errors).toBe(1);
    expect(t.store.families.find((f) => f.spec.name === EXITS)!.series.size).toBe(0);
  });

  it('skips processes that lived maxLifetimeMs or longer, and refuses a bad setting at load', async () => {
    const t = await loadForTest('rust-exits', wasm, { settings: { maxLifetimeMs: '100' } });
    await t.feed(RecordType.process_exit, [{ comm: 'a', lifetime_ns: 99_999_999 }, { comm: 'a', lifetime_ns: 100_000_000 }]);
    expect(t.value(EXITS, { comm: 'a', outcome: '0' })).toBe(1);
    await expect(loadForTest('rust-exits', wasm, { settings: { maxLifetimeMs: 'soon' } }))
      .rejects.toThrow(/rust-exits: .*it logged: maxLifetimeMs must be a whole number of milliseconds/);
  });
});
