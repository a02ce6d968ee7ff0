// Fuel injection (src/exporters/worker/fuel.ts): every module still compiles and behaves the
// same with its calls renumbered, a loop is stopped at the batch deadline on a thread it shares,
// and what cannot be stopped safely is refused with a clear EXPORTER_ABI error.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BpfwasmError } from '../../../src/errors.js';
import { FUEL_CHECK, FUEL_MODULE, injectFuel } from '../../../src/exporters/worker/fuel.js';
import { RecordType } from '../../../src/ingest/generated/events.js';
import { BUILD_DIR } from '../../../scripts/build-exporters.mjs';
import { encodeBatch, loadExporter, testHost } from '../helpers.js';
import { abiModule, OP } from '../wasm-module.js';

const EXEC = RecordType.process_exec;
const one = encodeBatch(EXEC, [{ comm: 'x' }]);
/** Defined functions of abiModule follow its 7 imports: bpfwasm_abi_version is function 7. */
const ABI_VERSION_FN = 7;
const refusal = (bytes: Uint8Array) => {
  try {
    injectFuel('m', bytes);
  } catch (e) {
    return { code: (e as BpfwasmError).code, message: (e as Error).message };
  }
  return undefined;
};

describe('injectFuel', () => {
  it('keeps every built-in exporter compiling, with the check as its last import and the same exports', async () => {
    const built = readdirSync(BUILD_DIR).filter((f) => f.endsWith('.wasm'));
    expect(built.length).toBeGreaterThan(5);
    for (const f of built) {
      const bytes = readFileSync(join(BUILD_DIR, f));
      const before = await WebAssembly.compile(bytes);
      const after = await WebAssembly.compile(injectFuel(f, bytes) as Uint8Array<ArrayBuffer>);
      expect(WebAssembly.Module.imports(after)).toEqual([
        ...WebAssembly.Module.imports(before), { module: FUEL_MODULE, name: FUEL_CHECK, kind: 'function' },
      ]);
      expect(WebAssembly.Module.exports(after)).toEqual(WebAssembly.Module.exports(before));
    }
  });

  it('renumbers calls: a batch that calls another of the module\'s functions still reaches it', async () => {
    // on_batch returns bpfwasm_abi_version() - 1 = 0: any other callee fails to compile or returns non-zero.
    const e = await loadExporter('caller', abiModule({ onBatch: [OP.call, ABI_VERSION_FN, OP.i32Const, 1, OP.i32Sub] }), testHost());
    e.onBatch(EXEC, one, 1);
    await e.flush();
    expect({ batches: e.batches, errors: e.errors, traps: e.traps }).toEqual({ batches: 1, errors: 0, traps: 0 });
  });

  it('stops a loop at the batch deadline without stopping the thread: a module beside it keeps running', async () => {
    const host = testHost({ limits: { batchTimeoutMs: 100, quarantineBaseMs: 60_000 } });
    const loop = await loadExporter('loop', abiModule({ onBatch: [OP.loop, OP.void, OP.br, 0, OP.end, OP.i32Const, 0] }), host);
    const healthy = await loadExporter('healthy', abiModule(), host);
    loop.onBatch(EXEC, one, 1);
    for (let i = 0; i < 20; i++) healthy.onBatch(EXEC, one, 1);
    await healthy.flush();
    await loop.flush();
    expect({ state: loop.state, timeouts: loop.timeouts, aborted: loop.dropped.aborted }).toEqual({ state: 'quarantined', timeouts: 1, aborted: 1 });
    expect(loop.lastError).toBe('loop: bpfwasm_on_batch did not return within 100 ms (exporters.batchTimeoutMs); its call was stopped');
    expect({ state: healthy.state, batches: healthy.batches, crashes: healthy.crashes, aborted: healthy.dropped.aborted })
      .toEqual({ state: 'loaded', batches: 20, crashes: 0, aborted: 0 });
  });

  it.each([
    ['exception handling (try)', [0x06, OP.void, OP.end, OP.i32Const, 0], /exception handling \(opcode 0x6\) is not supported/],
    ['an unknown opcode', [0xfb, 0x00, OP.i32Const, 0], /opcode 0xfb at byte \d+ is not supported/],
    ['an unknown 0xFC opcode', [0xfc, 0x7f, OP.i32Const, 0], /opcode 0xfc 0x7f is not supported/],
  ])('refuses %s with EXPORTER_ABI', (_what, onBatch, message) => {
    expect(refusal(abiModule({ onBatch }))).toMatchObject({ code: 'EXPORTER_ABI', message: expect.stringMatching(message) });
  });

  it('refuses a module importing from the host\'s fuel module itself', () => {
    const bytes = injectFuel('once', abiModule());
    expect(refusal(bytes)).toEqual({ code: 'EXPORTER_ABI', message: `m: imports from ${FUEL_MODULE}, which the host reserves` });
  });
});
