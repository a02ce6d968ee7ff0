// ABI v1 edge cases against small C fixtures compiled at test time (test/exporters/fixtures).
// probe.c runs one scenario per batch and publishes the import's return value in probe_result.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Errno, Op, OP_SIZE } from '../../src/exporters/abi.js';
import { ExporterRegistry } from '../../src/exporters/host/registry.js';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { buildC } from '../../scripts/build-exporters.mjs';
import { freshTmpDir, seriesId, testHost, type TestHost, loadExporter, run } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const out = freshTmpDir('abi');
const wasm = (name: string): Uint8Array => readFileSync(join(out, `${name}.wasm`));

beforeAll(async () => {
  const sources = readdirSync(FIXTURES).filter((f) => f.endsWith('.c'));
  await Promise.all(sources.map((f) => buildC([join(FIXTURES, f)], join(out, `${basename(f, '.c')}.wasm`))));
});

// Scenario numbers of probe.c.
const S = {
  INIT_RESULT: 1, METRIC_AFTER_INIT: 2, SUBSCRIBE_AFTER_INIT: 3, SERIES_VALUES_OOB: 4, SERIES_VALUE_OOB: 5,
  SERIES_FROM_PAYLOAD: 6, SERIES_WRONG_COUNT: 7, SERIES_UNKNOWN_METRIC: 8, SERIES_MANY: 9, UPDATE_OOB: 10,
  UPDATE_FROM_PAYLOAD: 11, LOG_OOB: 12, TRAP: 13, COUNT: 14, RETURN: 15, GROW_THEN_SERIES: 16,
} as const;

interface Probe {
  exporter: Exporter;
  host: TestHost;
  /** Runs a scenario and returns what the import returned. */
  run(scenario: number, arg?: number, data?: Uint8Array): Promise<number>;
  sid(metric: string, k?: string): number;
}

async function probe(host: TestHost = testHost()): Promise<Probe> {
  const exporter = await loadExporter('probe', wasm('probe'), host);
  const sid = (metric: string, k?: string) => seriesId(host.store, metric, k === undefined ? {} : { k })!;
  return {
    exporter,
    host,
    sid,
    async run(scenario, arg = 0, data = new Uint8Array()) {
      await run(exporter, RecordType.process_fork, payload(scenario, arg, data), 1);
      return host.store.value(sid('probe_result'));
    },
  };
}

function payload(scenario: number, arg: number, data: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + data.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, scenario, true);
  v.setUint32(4, arg, true);
  p.set(data, 8);
  return p;
}

interface OpSpec { sid: number; op: number; value: number }

function encodeOps(ops: readonly OpSpec[]): Uint8Array {
  const b = new Uint8Array(ops.length * OP_SIZE);
  const v = new DataView(b.buffer);
  ops.forEach((o, i) => {
    v.setUint32(i * OP_SIZE, o.sid, true);
    v.setUint32(i * OP_SIZE + 4, o.op, true);
    v.setFloat64(i * OP_SIZE + 8, o.value, true);
  });
  return b;
}

describe('loading refuses modules that do not implement ABI v1', () => {
  it.each([
    ['abi_v2', 'EXPORTER_ABI', 'abi_v2: ABI version 2, host supports 1'],
    ['missing_on_batch', 'EXPORTER_ABI', 'missing_on_batch: missing export bpfwasm_on_batch'],
    ['foreign_import', 'EXPORTER_ABI', 'foreign_import: imports env.abort, which ABI v1 does not provide'],
    ['wrong_signature', 'EXPORTER_ABI',
      'wrong_signature: imports bpfwasm.update as (i32, i64) -> i32, but its signature is (i32, i32) -> i32'],
    ['init_fails', 'EXPORTER_INIT', 'init_fails: bpfwasm_init returned 7'],
    ['init_traps', 'EXPORTER_INIT', 'init_traps: bpfwasm_init trapped: unreachable'],
  ])('%s → %s', async (name, code, message) => {
    await expect(loadExporter(name, wasm(name), testHost())).rejects.toMatchObject({ code, message });
  });

  it('reports bytes that are not WebAssembly as EXPORTER_LOAD naming the module', async () => {
    await expect(loadExporter('junk', new TextEncoder().encode('not wasm'), testHost()))
      .rejects.toMatchObject({ code: 'EXPORTER_LOAD', message: expect.stringMatching(/^junk: not a valid WebAssembly module/) });
  });
});

describe('host imports answer bad calls with error codes', () => {
  it.each([
    ['metric name out of bounds', 0, Errno.EBOUNDS],
    ['metric name not UTF-8', 1, Errno.EUTF8],
    ['unknown metric kind', 2, Errno.EINVAL],
    ['counter name without _total', 3, Errno.EINVAL],
    ['same name with other labels', 4, Errno.ECONFLICT],
    ['subscribe to an unknown record type', 5, Errno.ENOTFOUND],
    ['histogram without buckets', 6, Errno.EINVAL],
    ['buckets out of bounds', 7, Errno.EBOUNDS],
  ])('during init: %s', async (_, index, code) => {
    expect(await (await probe()).run(S.INIT_RESULT, index)).toBe(code);
  });

  it.each([
    ['metric after init', S.METRIC_AFTER_INIT, Errno.ESTATE],
    ['subscribe after init', S.SUBSCRIBE_AFTER_INIT, Errno.ESTATE],
    ['series with its value array out of bounds', S.SERIES_VALUES_OOB, Errno.EBOUNDS],
    ['series with a value out of bounds', S.SERIES_VALUE_OOB, Errno.EBOUNDS],
    ['series with the wrong number of values', S.SERIES_WRONG_COUNT, Errno.EINVAL],
    ['series of an unknown metric', S.SERIES_UNKNOWN_METRIC, Errno.ENOTFOUND],
    ['update with operations out of bounds', S.UPDATE_OOB, Errno.EBOUNDS],
  ])('%s', async (_, scenario, code) => {
    const p = await probe();
    expect(await p.run(scenario)).toBe(code);
    expect(p.exporter.rejectedCalls).toBeGreaterThan(0);
    expect(p.exporter.lastError).toMatch(new RegExp(`\\(${code}\\)$`));
    expect({ errors: p.exporter.errors, traps: p.exporter.traps }).toEqual({ errors: 0, traps: 0 });
  });

  it('log out of bounds is dropped, not a crash', async () => {
    const p = await probe();
    expect(await p.run(S.LOG_OOB)).toBe(0);
    expect(p.host.logs).toEqual([]);
    expect(p.exporter.lastError).toBe('log: message out of bounds (-2)');
  });

  it('a label value that is not UTF-8 → EUTF8', async () => {
    expect(await (await probe()).run(S.SERIES_FROM_PAYLOAD, 2, new Uint8Array([0xc3, 0x28]))).toBe(Errno.EUTF8);
  });

  it('an oversized label value → ELIMIT, counted as a refused series', async () => {
    const p = await probe(testHost({ maxLabelValueBytes: 16 }));
    expect(await p.run(S.SERIES_FROM_PAYLOAD, 17, new Uint8Array(17).fill(0x61))).toBe(Errno.ELIMIT);
    expect(p.host.store.refusedSeries('probe')).toBe(1);
    expect(await p.run(S.SERIES_FROM_PAYLOAD, 16, new Uint8Array(16).fill(0x61))).toBeGreaterThanOrEqual(0);
  });

  it('past the series limit → ELIMIT, each refusal counted', async () => {
    const p = await probe(testHost({ maxSeries: 20 }));
    const owned = p.host.store.seriesOf('probe'); // probe_result and the three k="a" series
    expect(await p.run(S.SERIES_MANY, 30)).toBe(Errno.ELIMIT);
    expect(p.host.store.seriesOf('probe')).toBe(20);
    expect(p.host.store.refusedSeries('probe')).toBe(30 - (20 - owned));
  });

  it('reads label values from memory grown during the call', async () => {
    const p = await probe();
    expect(await p.run(S.GROW_THEN_SERIES)).toBe(4); // the next local id after the four of init
    expect(seriesId(p.host.store, 'probe_total', { k: 'grown' })).toBeDefined();
  });
});

// The ids a module sees are its own, in the order it interned them (probe.c's init: probe_result,
// then probe_total, probe_gauge and probe_seconds with k="a"); the store's ids stay on the host.
const LOCAL = { result: 0, c: 1, g: 2, h: 3 } as const;
const LOCAL_KIND: Record<number, string> = { 0: 'gauge', 1: 'counter', 2: 'gauge', 3: 'histogram' };

describe('update', () => {
  it('rejects and counts a negative or NaN counter add, a set on a counter and a series it never interned', async () => {
    const p = await probe();
    const other = p.host.store.series(p.host.store.declare('other', { name: 'other_total', help: '', kind: 'counter', labelNames: [] }), []);
    const c = p.sid('probe_total', 'a');
    const ops = encodeOps([
      { sid: LOCAL.c, op: Op.ADD, value: 2 },
      { sid: LOCAL.c, op: Op.ADD, value: -1 },
      { sid: LOCAL.c, op: Op.ADD, value: NaN },
      { sid: LOCAL.c, op: Op.ADD, value: Infinity },
      { sid: LOCAL.c, op: Op.SET, value: 5 },
      { sid: other, op: Op.ADD, value: 1 },
    ]);
    expect(await p.run(S.UPDATE_FROM_PAYLOAD, 6, ops)).toBe(5);
    expect(p.exporter.rejectedOps).toBe(5);
    expect(p.host.store.value(c)).toBe(2);
    expect(p.host.store.value(other)).toBe(0);
  });

  it('arbitrary operation streams never break the host: applied + rejected == total, values follow the rules', async () => {
    const p = await probe();
    const store = p.host.store;
    const c = p.sid('probe_total', 'a');
    const g = p.sid('probe_gauge', 'a');
    const h = p.sid('probe_seconds', 'a');
    const other = store.series(store.declare('other', { name: 'other_gauge', help: '', kind: 'gauge', labelNames: [] }), []);
    const op = fc.record({
      sid: fc.oneof(fc.constantFrom<number>(LOCAL.c, LOCAL.g, LOCAL.h, other), fc.nat({ max: 16 }), fc.nat({ max: 0xffffffff })),
      op: fc.oneof(fc.constantFrom(Op.ADD, Op.SET, Op.OBSERVE, Op.BUCKET_ADD, Op.BUCKET_ADD | (1 << 8), Op.SUM_ADD),
        fc.nat({ max: 0xffffffff })),
      value: fc.oneof(fc.double(), fc.integer({ min: -5, max: 5 })),
    });
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 64 }), async (ops) => {
      const hist = store.histogram(h);
      const before = { c: store.value(c), g: store.value(g), h: hist.count, sum: hist.sum, rejected: p.exporter.rejectedOps };
      const expected = { ...before, applied: 0 };
      // The guest checks kinds and finiteness; the store then refuses what would overflow to
      // ±Inf (state carries across runs, so huge values can get there), counted but not returned.
      let overflowed = 0;
      const fits = (x: number): boolean => Number.isFinite(x);
      for (const o of ops) {
        const kind = LOCAL_KIND[o.sid];
        const applies = Number.isFinite(o.value) && (
          (o.op === Op.ADD && (kind === 'gauge' || (kind === 'counter' && o.value >= 0))) ||
          (o.op === Op.SET && kind === 'gauge') ||
          (o.op === Op.OBSERVE && kind === 'histogram') ||
          ((o.op & 0xff) === Op.BUCKET_ADD && kind === 'histogram' && Number.isInteger(o.value) && o.value >= 0 &&
            o.op >>> 8 <= 2) ||
          (o.op === Op.SUM_ADD && kind === 'histogram'));
        if (!applies) continue;
        expected.applied++;
        if (o.sid === LOCAL.c) {
          if (fits(expected.c + o.value)) expected.c += o.value;
          else overflowed++;
        } else if (o.sid === LOCAL.g) {
          const next = o.op === Op.SET ? o.value : expected.g + o.value;
          if (fits(next)) expected.g = next;
          else overflowed++;
        } else if (o.sid === LOCAL.h && (o.op & 0xff) === Op.BUCKET_ADD) {
          if (fits(expected.h + o.value)) expected.h += o.value;
          else overflowed++;
        } else if (o.sid === LOCAL.h) {
          if (!fits(expected.sum + o.value)) overflowed++;
          else {
            expected.sum += o.value;
            if (o.op === Op.OBSERVE) expected.h++;
          }
        }
      }
      const rejected = await p.run(S.UPDATE_FROM_PAYLOAD, ops.length, encodeOps(ops));
      expect(expected.applied + rejected).toBe(ops.length);
      expect(p.exporter.rejectedOps - before.rejected).toBe(rejected + overflowed);
      const after = store.histogram(h);
      expect({ c: store.value(c), g: store.value(g), h: after.count, sum: after.sum })
        .toEqual({ c: expected.c, g: expected.g, h: expected.h, sum: expected.sum });
      expect(store.value(other)).toBe(0);
    }), { numRuns: 300 });
    expect({ errors: p.exporter.errors, traps: p.exporter.traps }).toEqual({ errors: 0, traps: 0 });
  });
});

describe('running batches', () => {
  it('counts a trap in on_batch and keeps the module and its state for the next batch', async () => {
    const p = await probe();
    const c = p.sid('probe_total', 'a');
    await p.run(S.COUNT);
    await p.run(S.TRAP);
    expect({ errors: p.exporter.errors, traps: p.exporter.traps }).toEqual({ errors: 0, traps: 1 });
    expect(p.exporter.lastError).toBe('bpfwasm_on_batch trapped: unreachable');
    await p.run(S.COUNT);
    expect(p.host.store.value(c)).toBe(2);
    expect(p.exporter.batches).toBe(3);
  });

  it('counts a non-zero return as an error', async () => {
    const p = await probe();
    await p.run(S.RETURN, 3);
    expect(p.exporter.errors).toBe(1);
    expect(p.exporter.lastError).toBe('bpfwasm_on_batch returned 3');
  });
});

describe('registry', () => {
  it('loads the good module of a directory, reports the broken ones, and dispatches by subscription', async () => {
    const builtins = join(freshTmpDir('reg'), 'builtin');
    const user = join(freshTmpDir('reg'), 'user');
    mkdirSync(builtins);
    mkdirSync(user);
    copyFileSync(join(out, 'probe.wasm'), join(builtins, 'probe.wasm'));
    copyFileSync(join(out, 'abi_v2.wasm'), join(builtins, 'abi_v2.wasm'));
    writeFileSync(join(builtins, 'junk.wasm'), 'not wasm');
    writeFileSync(join(builtins, 'README.md'), 'not a module');
    copyFileSync(join(out, 'probe.wasm'), join(user, 'probe.wasm'));
    copyFileSync(join(out, 'probe.wasm'), join(user, 'Probe v2.wasm')); // a name the API would refuse too
    const host = testHost();
    const registry = new ExporterRegistry(host);
    await registry.loadFrom([builtins, user, join(user, 'missing')]);

    expect(registry.list().map((e) => e.name)).toEqual(['probe']);
    expect(registry.failed.map((f) => [f.name, f.error])).toEqual([
      ['abi_v2', 'EXPORTER_ABI: abi_v2: ABI version 2, host supports 1'],
      ['junk', expect.stringMatching(/^EXPORTER_LOAD: junk: not a valid WebAssembly module/)],
      ['probe', `probe: name already used by ${join(builtins, 'probe.wasm')}`],
      ['Probe v2', 'EXPORTER_NAME_INVALID: exporter name "Probe v2" must match [a-z0-9_-]{1,64}'],
    ]);
    expect(host.logs.filter((l) => l.level === 3).map((l) => l.exporter).sort()).toEqual(['Probe v2', 'abi_v2', 'junk', 'probe']);
    expect(host.logs.some((l) => l.exporter === 'registry' && l.msg.includes('missing'))).toBe(true);

    const count = payload(S.COUNT, 0, new Uint8Array());
    registry.dispatch(RecordType.process_fork, count, 1);
    registry.dispatch(RecordType.process_exit, count, 1); // probe did not subscribe: not called
    await registry.flush();
    const exporter = registry.list()[0]!;
    expect({ batches: exporter.batches, errors: exporter.errors }).toEqual({ batches: 1, errors: 0 });
    expect(host.store.value(seriesId(host.store, 'probe_total', { k: 'a' })!)).toBe(1);
    await registry.close();
  });
});
