// The syscalls exporter (C) fed synthetic aggregate records: bucket placement of log2 slots,
// sums, names resolved by the host with their fallbacks, and the series-id caches.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, seriesId, testHost, valueOf, type TestHost, run, feed, expectClean, loadBuilt } from './helpers.js';

const LATENCY = RecordType.syscall_latency;
const ERROR = RecordType.syscall_error;
const HIST = 'bpfwasm_syscall_latency_seconds';
const ERRORS = 'bpfwasm_syscall_errors_total';
// Bounds 2^10 … 2^34 ns in seconds.
const BOUNDS = Array.from({ length: 25 }, (_, i) => 2 ** (i + 10) / 1e9);

beforeAll(async () => {
  await buildAll();
});

// What the collector's resolver answers for the numbers these tests use (kind 1 syscall, 2 errno).
const NAMES = {
  1: { 0: 'read', 1: 'write', 3: 'close', 35: 'nanosleep', 257: 'openat' },
  2: { 2: 'ENOENT', 9: 'EBADF', 13: 'EACCES', 38: 'ENOSYS' },
};

async function load(host: TestHost = testHost({ names: NAMES })): Promise<{ exporter: Exporter; host: TestHost }> {
  return loadBuilt('syscalls', host);
}

/** Per-bucket (not cumulative) counts of a syscall's histogram, +Inf last. */
function buckets(host: TestHost, syscall: string): { perBucket: number[]; sum: number; count: number } {
  const id = seriesId(host.store, HIST, { syscall });
  if (id === undefined) throw new Error(`no series for ${syscall}`);
  const { cumulative, sum, count } = host.store.histogram(id);
  return { perBucket: cumulative.map((c, i) => c - (i ? cumulative[i - 1]! : 0)), sum, count };
}

// Aggregate records carry no task: the helper zeroes the header after type, size and cpu.
const agg = { cpu: 0xffffffff, timestamp_ns: 1n };

describe('syscalls exporter (C)', () => {
  it('subscribes to both aggregate records and declares the documented metrics', async () => {
    const { exporter, host } = await load();
    expect(exporter.subscriptions).toEqual([LATENCY, ERROR]);
    const hist = host.store.families.find((f) => f.spec.name === HIST)!.spec;
    expect(hist).toMatchObject({ kind: 'histogram', labelNames: ['syscall'] });
    expect(hist.buckets).toEqual(BOUNDS);
    expect(host.store.families.find((f) => f.spec.name === ERRORS)!.spec).toMatchObject({
      kind: 'counter', labelNames: ['syscall', 'errno'],
    });
  });

  it('adds each slot\'s count to its bucket and its sum in seconds', async () => {
    const { exporter, host } = await load();
    await feed(exporter, LATENCY, [
      { ...agg, nr: 35, slot: 0, count: 3, sum_ns: 2 },          // ≤ 1 ns: first bucket
      { ...agg, nr: 35, slot: 10, count: 4, sum_ns: 4 * 1000 },  // (512, 1024] ns: first bucket
      { ...agg, nr: 35, slot: 11, count: 5, sum_ns: 5 * 2000 },  // (1024, 2048]: second
      { ...agg, nr: 35, slot: 21, count: 7, sum_ns: 7 * 2_050_000 }, // ~2 ms: bound 2^21 ns
      { ...agg, nr: 35, slot: 34, count: 1, sum_ns: 17_000_000_000 }, // last finite bound
      { ...agg, nr: 35, slot: 35, count: 2, sum_ns: 2 * 30_000_000_000 }, // +Inf
    ]);
    const expected = new Array(26).fill(0);
    expected[0] = 7;
    expected[1] = 5;
    expected[11] = 7;
    expected[24] = 1;
    expected[25] = 2;
    const h = buckets(host, 'nanosleep');
    expect(h.perBucket).toEqual(expected);
    expect(h.count).toBe(22);
    expect(h.sum).toBeCloseTo((2 + 4000 + 10_000 + 14_350_000 + 17_000_000_000 + 60_000_000_000) / 1e9, 9);
    expectClean(exporter);
  });

  it('accumulates increases across batches under one series per syscall', async () => {
    const { exporter, host } = await load();
    await feed(exporter, LATENCY, [{ ...agg, nr: 0, slot: 12, count: 10, sum_ns: 30_000 }]);
    await feed(exporter, LATENCY, [{ ...agg, nr: 0, slot: 12, count: 5, sum_ns: 15_000 }, { ...agg, nr: 1, slot: 13, count: 1, sum_ns: 5000 }]);
    expect(buckets(host, 'read')).toMatchObject({ count: 15, sum: 45_000 / 1e9 });
    expect(buckets(host, 'read').perBucket[2]).toBe(15);
    expect(buckets(host, 'write')).toMatchObject({ count: 1, sum: 5000 / 1e9 });
    expect(host.store.families.find((f) => f.spec.name === HIST)!.series.size).toBe(2);
    expectClean(exporter);
  });

  it('counts errors by syscall and errno name', async () => {
    const { exporter, host } = await load();
    await feed(exporter, ERROR, [
      { ...agg, nr: 257, error: 2, count: 137 },
      { ...agg, nr: 257, error: 13, count: 4 },
      { ...agg, nr: 3, error: 9, count: 23 },
    ]);
    await feed(exporter, ERROR, [{ ...agg, nr: 257, error: 2, count: 3 }]);
    expect(valueOf(host.store, ERRORS, { syscall: 'openat', errno: 'ENOENT' })).toBe(140);
    expect(valueOf(host.store, ERRORS, { syscall: 'openat', errno: 'EACCES' })).toBe(4);
    expect(valueOf(host.store, ERRORS, { syscall: 'close', errno: 'EBADF' })).toBe(23);
    expectClean(exporter);
  });

  it('falls back to syscall_<nr> and E<n> for numbers the host cannot name', async () => {
    const { exporter, host } = await load();
    await feed(exporter, LATENCY, [{ ...agg, nr: 9999, slot: 12, count: 1, sum_ns: 3000 }]);
    await feed(exporter, ERROR, [
      { ...agg, nr: 9999, error: 38, count: 1 },
      { ...agg, nr: 35, error: 4000, count: 2 },
      { ...agg, nr: 4294967295, error: 4095, count: 1 },
    ]);
    expect(buckets(host, 'syscall_9999').count).toBe(1);
    expect(valueOf(host.store, ERRORS, { syscall: 'syscall_9999', errno: 'ENOSYS' })).toBe(1);
    expect(valueOf(host.store, ERRORS, { syscall: 'nanosleep', errno: 'E4000' })).toBe(2);
    expect(valueOf(host.store, ERRORS, { syscall: 'syscall_4294967295', errno: 'E4095' })).toBe(1);
    expectClean(exporter);
  });

  it('rejects a batch whose length does not match its record count', async () => {
    const { exporter } = await load();
    const bytes = encodeBatch(LATENCY, [{ ...agg, nr: 0, slot: 1, count: 1, sum_ns: 1 }]);
    await run(exporter, LATENCY, bytes, 2);
    expect(exporter.errors).toBe(1);
  });

  it('interns a series again after the host expired it, never updating the id\'s next owner', async () => {
    const { exporter, host } = await load();
    await feed(exporter, ERROR, [{ ...agg, nr: 257, error: 2, count: 1 }]);
    const idle = [seriesId(host.store, ERRORS, { syscall: 'openat', errno: 'ENOENT' })!];
    expect(await exporter.forget(idle)).toBe(true);
    host.store.free(idle);
    // Another key takes the freed id; the old key comes back under a new id, from zero.
    await feed(exporter, ERROR, [{ ...agg, nr: 3, error: 9, count: 2 }]);
    await feed(exporter, ERROR, [{ ...agg, nr: 257, error: 2, count: 5 }]);
    expect(valueOf(host.store, ERRORS, { syscall: 'close', errno: 'EBADF' })).toBe(2);
    expect(valueOf(host.store, ERRORS, { syscall: 'openat', errno: 'ENOENT' })).toBe(5);
    expectClean(exporter);
  });
});
