// The module budget (issue #16, case 5): tables, globals and segments draw on the same
// exporters.maxMemoryPages budget as linear memory. A 20-table module that drove RSS from
// 0.3 to 5.8 GB while bpfwasm_exporter_memory_bytes showed 128 KiB is refused before compiling.
import { describe, expect, it } from 'vitest';
import { BpfwasmError } from '../../src/errors.js';
import { capModule, GLOBAL_BYTES, PAGE_BYTES, TABLE_ENTRY_BYTES } from '../../src/exporters/worker/memory-cap.js';
import { loadExporter, testHost } from './helpers.js';
import { abiModule, i32, OP, u32 } from './wasm-module.js';

const TABLE_GROW = [0xfc, 15];

function refusal(f: () => unknown): BpfwasmError {
  try {
    f();
  } catch (e) {
    if (e instanceof BpfwasmError) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('capModule', () => {
  it.each([
    ['20 funcref tables of 10M entries', { tables: Array.from({ length: 20 }, () => ({ min: 10_000_000 })) },
      'm: it declares memory 2 pages (128 KiB), tables of 200000000 entries (6 GiB), above its budget of exporters.maxMemoryPages 256 (16 MiB)'],
    ['one table whose declared maximum is past the budget', { tables: [{ min: 1, max: 1_000_000 }] },
      'm: it declares memory 2 pages (128 KiB), tables of 1000000 entries (30.5 MiB), above its budget of exporters.maxMemoryPages 256 (16 MiB)'],
    ['600k globals', { globals: 600_000 },
      'm: it declares memory 2 pages (128 KiB), 600000 globals (18.3 MiB), above its budget of exporters.maxMemoryPages 256 (16 MiB)'],
    ['a data segment and a memory that do not fit together', { memory: { min: 255 }, data: [{ offset: 0, bytes: new Uint8Array(128 << 10) }] },
      'm: it declares memory 255 pages (15.9 MiB), data segments of 128 KiB, above its budget of exporters.maxMemoryPages 256 (16 MiB)'],
  ])('refuses %s with EXPORTER_BUDGET, before compiling', (_, spec, message) => {
    const e = refusal(() => capModule('m', abiModule(spec), 256));
    expect({ code: e.code, message: e.message }).toEqual({ code: 'EXPORTER_BUDGET', message });
  });

  it('refuses a module larger than the budget itself', () => {
    const e = refusal(() => capModule('m', abiModule({ data: [{ offset: 0, bytes: new Uint8Array(3 << 19) }] }), 16));
    expect({ code: e.code, message: e.message }).toEqual({ code: 'EXPORTER_BUDGET', message: expect.stringMatching(/^m: the module is 1\.5 MiB, above its budget of exporters\.maxMemoryPages 16 \(1 MiB\)$/) });
  });

  it('gives a table without a maximum its initial size as maximum, and the memory what is left', async () => {
    const capped = capModule('m', abiModule({ tables: [{ min: 65536 }], globals: 3 }), 256);
    const fixed = 65536 * TABLE_ENTRY_BYTES + 3 * GLOBAL_BYTES;
    expect({ fixed: capped.fixedBytes, max: capped.maxPages }).toEqual({ fixed, max: Math.floor((256 * PAGE_BYTES - fixed) / PAGE_BYTES) });
    expect(capped.maxPages).toBe(223);
    // The engine enforces the rewritten limits: the module still compiles.
    await WebAssembly.compile(capped.bytes as Uint8Array<ArrayBuffer>);
  });

  it('keeps a module within the budget byte for byte when nothing needs rewriting', () => {
    const bytes = abiModule({ memory: { min: 2, max: 200 }, tables: [{ min: 4, max: 4 }] });
    expect(capModule('m', bytes, 256).bytes).toBe(bytes);
  });
});

describe('a loaded module cannot hold more than its budget', () => {
  it('the 20-table module is refused without the process growing', async () => {
    const host = testHost();
    const rss = process.memoryUsage().rss;
    const bytes = abiModule({ tables: Array.from({ length: 20 }, () => ({ min: 10_000_000 })) });
    expect(bytes.length).toBeLessThan(512);
    await expect(loadExporter('tables', bytes, host)).rejects.toMatchObject({ code: 'EXPORTER_BUDGET' });
    // It took +5.3 GB before (measured on this machine); a worker spawn costs a few MB.
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 << 20);
  });

  it('table.grow past the table\'s initial size returns -1 when no maximum was declared', async () => {
    // init succeeds only if growing by 1000 entries failed (-1).
    const init = [OP.refNull, OP.funcref, OP.i32Const, ...i32(1000), ...TABLE_GROW, ...u32(0), OP.i32Const, ...i32(-1), 0x47 /* i32.ne */];
    const host = testHost();
    const e = await loadExporter('grower', abiModule({ tables: [{ min: 1 }], init }), host);
    expect(e.state).toBe('loaded');
  });

  it('bpfwasm_exporter_memory_bytes counts the tables and globals beside the linear memory', async () => {
    const host = testHost();
    const e = await loadExporter('tabled', abiModule({ tables: [{ min: 100_000 }], globals: 10 }), host);
    expect(e.memoryBytes).toBe(2 * PAGE_BYTES + 100_000 * TABLE_ENTRY_BYTES + 10 * GLOBAL_BYTES);
  });
});
