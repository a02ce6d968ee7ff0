// The ABI additions for kernel-aggregated sensors, through both SDKs: log2 bucket bounds that
// take the kernel's slots exactly, bucket and sum adds, resolve, config and structured logs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResolveKind } from '../../src/exporters/abi.js';
import { GuestImports } from '../../src/exporters/worker/guest-imports.js';
import { SeriesSink } from '../../src/exporters/host/sink.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { SeriesStore } from '../../src/metrics/store.js';
import { buildAssemblyScript, buildC } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, seriesId, testHost, loadExporter, run } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const names = { [ResolveKind.SYSCALL]: { '35': 'nanosleep' }, [ResolveKind.ERRNO]: { '2': 'ENOENT' } };
const us = (s: number) => 2 ** s / 1e9; // bound of slot s in seconds

/** Cumulative count at each bound for slots 9..22 each holding `slot` observations. */
function latencyBatch() {
  const recs = [];
  for (let slot = 9; slot <= 22; slot++) recs.push({ nr: 35, slot, count: slot, sum_ns: slot * 2 ** slot });
  return recs;
}

describe('aggregate records through the SDKs', () => {
  it.each(['as', 'c'])('%s: slots land in the matching log2 buckets; sums and counts add up', async (lang) => {
    const dir = freshTmpDir(`agg-${lang}`);
    const out = join(dir, 'agg.wasm');
    if (lang === 'as') await buildAssemblyScript(join(FIXTURES, 'aggregates_as.ts'), out);
    else await buildC([join(FIXTURES, 'aggregates_c.c')], out);
    const host = testHost({ names, settings: { agg: { prefix: 'p' } } });
    const exporter = await loadExporter('agg', readFileSync(out), host);

    const recs = latencyBatch();
    const type = RecordType.syscall_latency;
    await run(exporter, type, encodeBatch(type, recs), recs.length);
    await run(exporter, type, encodeBatch(type, recs), recs.length); // increases add up
    expect(exporter.errors + exporter.traps + exporter.rejectedOps + exporter.rejectedCalls).toBe(0);

    const labels: Record<string, string> = lang === 'as' ? { syscall: 'p:nanosleep' } : { syscall: 'nanosleep', prefix: 'p' };
    const h = host.store.histogram(seriesId(host.store, 't_latency_seconds', labels)!);
    const family = host.store.families.find((f) => f.spec.name === 't_latency_seconds')!;
    expect([...family.bounds]).toEqual(Array.from({ length: 11 }, (_, i) => us(10 + i)));
    // Bucket le=2^s ns holds every slot ≤ s: slots 9,10 in the first, 21,22 only in +Inf.
    const expected = family.bounds.map((_, i) => 2 * recs.filter((r) => r.slot <= 10 + i).reduce((a, r) => a + r.count, 0));
    expect(h.cumulative.slice(0, -1)).toEqual([...expected]);
    const total = 2 * recs.reduce((a, r) => a + r.count, 0);
    expect(h.cumulative.at(-1)).toBe(total);
    expect(h.count).toBe(total);
    expect(h.sum).toBeCloseTo(2 * recs.reduce((a, r) => a + r.sum_ns, 0) / 1e9, 9);
  });

  it('resolve falls back when the host has no name; a JSON log line becomes structured fields', async () => {
    const dir = freshTmpDir('agg-as-errors');
    const out = join(dir, 'agg.wasm');
    await buildAssemblyScript(join(FIXTURES, 'aggregates_as.ts'), out);
    const host = testHost({ names });
    const exporter = await loadExporter('agg', readFileSync(out), host);
    const type = RecordType.syscall_error;
    await run(exporter, type, encodeBatch(type, [{ nr: 257, error: 2, count: 7 }, { nr: 35, error: 999, count: 1 }]), 2);
    const value = (labels: Record<string, string>) => host.store.value(seriesId(host.store, 't_errors_total', labels)!);
    expect(value({ syscall: 'none:unknown_257', errno: 'none:ENOENT' })).toBe(7);
    expect(value({ syscall: 'none:nanosleep', errno: 'none:unknown_999' })).toBe(1);
    const events = host.logs.filter((l) => l.fields?.event === 'syscall_error');
    expect(events.map((l) => l.fields!.nr)).toEqual([257, 35]);
    expect(exporter.rejectedCalls).toBe(0); // ENOTFOUND from resolve is an answer, not a misuse
  });
});

describe('import additions (the worker-side imports, applied through the host sink)', () => {
  function host(opts: { now?: () => number } = {}) {
    const store = new SeriesStore({ maxSeriesPerOwner: 100, maxLabelValueBytes: 64 });
    store.declare('x', { name: 'h', help: 'h', kind: 'histogram', labelNames: [], buckets: [1, 2] });
    store.declare('x', { name: 'c_total', help: 'c', kind: 'counter', labelNames: [] });
    const sink = new SeriesSink('x', store);
    const logs: string[] = [];
    const imports = new GuestImports({
      declare: () => ({ code: -1, why: 'not in this test' }),
      resolve: (kind, id) => (kind === 1 && id === 0x1_0000_0002n ? 'sixty-four' : undefined),
      log: (_l, msg) => logs.push(msg),
    }, {
      limits: { maxSeriesPerOwner: 100, maxLabelValueBytes: 64 },
      settings: { key: 'välue' },
      seed: sink.seed(),
      now: opts.now,
    });
    const memory = new WebAssembly.Memory({ initial: 1 });
    imports.attach(memory);
    return { imports, memory, store, sink, logs };
  }

  it('resolve joins the id halves, returns the full length and truncates to the capacity', () => {
    const { imports, memory } = host();
    expect(imports.resolve(1, 2, 1, 100, 64)).toBe(10);
    expect(new TextDecoder().decode(new Uint8Array(memory.buffer, 100, 10))).toBe('sixty-four');
    expect(imports.resolve(1, 2, 1, 200, 3)).toBe(10);
    expect(new TextDecoder().decode(new Uint8Array(memory.buffer, 200, 4))).toBe('six\0');
    expect(imports.resolve(1, 2, 0, 100, 64)).toBe(-6);
    expect(imports.resolve(1, 2, 1, 65530, 64)).toBe(-2);
  });

  it('config answers UTF-8 settings by key', () => {
    const { imports, memory } = host();
    new Uint8Array(memory.buffer).set(new TextEncoder().encode('key'), 0);
    expect(imports.config(0, 3, 100, 64)).toBe(6);
    expect(new TextDecoder().decode(new Uint8Array(memory.buffer, 100, 6))).toBe('välue');
    new Uint8Array(memory.buffer).set(new TextEncoder().encode('nope'), 0);
    expect(imports.config(0, 4, 100, 64)).toBe(-6);
  });

  it('bucket adds refuse a bucket past +Inf, fractional or negative counts, and non-histograms', () => {
    const { imports, memory, store, sink } = host();
    imports.initializing = false;
    const h = store.declare('x', { name: 'h', help: 'h', kind: 'histogram', labelNames: [], buckets: [1, 2] });
    const c = store.declare('x', { name: 'c_total', help: 'c', kind: 'counter', labelNames: [] });
    const hs = imports.series(h, 0, 0);
    const cs = imports.series(c, 0, 0);
    const dv = new DataView(memory.buffer);
    const ops: [number, number, number][] = [
      [hs, 4 | (2 << 8), 3], // +Inf: ok
      [hs, 4 | (0 << 8), 2], // ok
      [hs, 5, 1.5], // sum: ok
      [hs, 4 | (3 << 8), 1], // past +Inf
      [hs, 4, 0.5], // fractional count
      [hs, 4, -1], // negative
      [cs, 4, 1], // a counter
      [cs, 5, 1], // a counter
    ];
    ops.forEach(([sid, op, v], i) => {
      dv.setUint32(i * 16, sid, true);
      dv.setUint32(i * 16 + 4, op, true);
      dv.setFloat64(i * 16 + 8, v, true);
    });
    expect(imports.update(0, ops.length)).toBe(5);
    sink.apply(imports.takeFlush());
    expect(store.histogram(seriesId(store, 'h', {})!)).toEqual({ cumulative: [2, 2, 5], sum: 1.5, count: 5 });
  });

  it('log lines are rate-limited per exporter, and the drops counted', () => {
    let now = 0;
    const { imports, logs } = host({ now: () => now });
    for (let i = 0; i < 80; i++) imports.log(1, 0, 1);
    expect(logs.length).toBe(50);
    expect(imports.logsDropped).toBe(30);
    now = 1000; // one second refills 10
    for (let i = 0; i < 20; i++) imports.log(1, 0, 1);
    expect(logs.length).toBe(60);
    expect(imports.logsDropped).toBe(40);
  });
});
