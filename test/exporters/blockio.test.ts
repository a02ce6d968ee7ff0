// The blockio exporter (C), fed synthetic blockio_latency aggregate records: exact bucket
// placement of log2 slots, sums in seconds, bytes, and device names with their fallback.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, seriesId, testHost, valueOf, type TestHost, run, feed, expectClean, loadBuilt } from './helpers.js';

const BLOCKIO = RecordType.blockio_latency;
const LATENCY = 'bpfwasm_block_io_latency_seconds';
const BYTES = 'bpfwasm_block_io_bytes_total';
const RESOLVE_BLOCK_DEVICE = 3;
const VDA = (254 << 20) | 0;
const VDB = (254 << 20) | 16;
const SDA = (8 << 20) | 0;
/** Bounds 2^10 .. 2^34 ns in seconds. */
const BOUNDS = Array.from({ length: 25 }, (_, i) => 2 ** (10 + i) / 1e9);
const Op = { read: 1, write: 2, flush: 3, discard: 4, other: 5 } as const;

beforeAll(async () => {
  await buildAll();
});

interface Loaded { exporter: Exporter; host: TestHost; resolved: { kind: number; id: bigint }[] }

/** Loads the exporter with a host that knows vda and sda (not vdb), recording every resolve call. */
async function load(): Promise<Loaded> {
  const resolved: Loaded['resolved'] = [];
  const names = new Map<bigint, string>([[BigInt(VDA), 'vda'], [BigInt(SDA), 'sda']]);
  const host: TestHost = Object.assign(testHost(), {
    resolve(kind: number, id: bigint): string | undefined {
      resolved.push({ kind, id });
      return kind === RESOLVE_BLOCK_DEVICE ? names.get(id) : undefined;
    },
  });
  return { ...(await loadBuilt('blockio', host)), resolved };
}

function histogram(host: TestHost, labels: Record<string, string>): { buckets: number[]; sum: number; count: number } {
  const id = seriesId(host.store, LATENCY, labels);
  if (id === undefined) throw new Error(`no ${LATENCY} series ${JSON.stringify(labels)}`);
  const h = host.store.histogram(id);
  // Per-bucket counts from the cumulative ones (+Inf last).
  const buckets = h.cumulative.map((c, i) => c - (i ? h.cumulative[i - 1]! : 0));
  return { buckets, sum: h.sum, count: h.count };
}

describe('blockio exporter (C)', () => {
  it('declares the latency histogram with log2 bounds 2^10..2^34 ns and the bytes counter', async () => {
    const { exporter, host } = await load();
    expect(exporter.subscriptions).toEqual([BLOCKIO]);
    const specs = Object.fromEntries(host.store.families.filter((f) => f.owner === 'blockio').map((f) => [f.spec.name, f.spec]));
    expect(specs[LATENCY]).toMatchObject({ kind: 'histogram', labelNames: ['device', 'operation'], buckets: BOUNDS });
    expect(specs[BYTES]).toMatchObject({ kind: 'counter', labelNames: ['device', 'operation'] });
    expect(Object.keys(specs).sort()).toEqual([BYTES, LATENCY]);
  });

  it('puts each log2 slot in the bucket whose bound is 2^slot ns, clamping below 2^10 and above 2^34', async () => {
    const { exporter, host } = await load();
    // slot s holds (2^(s-1), 2^s] ns: bucket index s - 10 (le=2^s ns), slots ≤ 10 in the first, > 34 in +Inf.
    await feed(exporter, BLOCKIO, [
      { dev: VDA, op: Op.write, slot: 0, count: 1, sum_ns: 1, bytes: 512 },
      { dev: VDA, op: Op.write, slot: 10, count: 2, sum_ns: 2000, bytes: 1024 },
      { dev: VDA, op: Op.write, slot: 11, count: 3, sum_ns: 3 * 1500, bytes: 4096 },
      { dev: VDA, op: Op.write, slot: 17, count: 40, sum_ns: 40 * 100_000, bytes: 40 * 65536 },
      { dev: VDA, op: Op.write, slot: 34, count: 1, sum_ns: 2 ** 34, bytes: 512 },
      { dev: VDA, op: Op.write, slot: 35, count: 5, sum_ns: 5 * 30_000_000_000, bytes: 5 * 512 },
    ]);
    const h = histogram(host, { device: 'vda', operation: 'write' });
    const expected = new Array<number>(26).fill(0);
    expected[0] = 3; // slots 0 and 10
    expected[1] = 3; // slot 11
    expected[7] = 40; // slot 17: le = 2^17 ns = 131.072 µs
    expected[24] = 1; // slot 34
    expected[25] = 5; // slot 35: +Inf
    expect(h.buckets).toEqual(expected);
    expect(h.count).toBe(52);
    const sumNs = 1 + 2000 + 4500 + 4_000_000 + 2 ** 34 + 5 * 30_000_000_000;
    expect(h.sum).toBeCloseTo(sumNs / 1e9, 9);
    expect(valueOf(host.store, BYTES, { device: 'vda', operation: 'write' })).toBe(512 + 1024 + 4096 + 40 * 65536 + 512 + 5 * 512);
    expectClean(exporter);
  });

  it('adds up the increases of consecutive records for one key', async () => {
    const { exporter, host } = await load();
    await feed(exporter, BLOCKIO, [{ dev: VDA, op: Op.read, slot: 15, count: 7, sum_ns: 7 * 20_000, bytes: 7 * 4096 }]);
    await feed(exporter, BLOCKIO, [{ dev: VDA, op: Op.read, slot: 15, count: 3, sum_ns: 3 * 30_000, bytes: 3 * 8192 }]);
    const h = histogram(host, { device: 'vda', operation: 'read' });
    expect(h.count).toBe(10);
    expect(h.buckets[5]).toBe(10);
    expect(h.sum).toBeCloseTo(230_000 / 1e9, 12);
    expect(valueOf(host.store, BYTES, { device: 'vda', operation: 'read' })).toBe(7 * 4096 + 3 * 8192);
    expect(exporter.events).toBe(2);
    expectClean(exporter);
  });

  it('names every operation and keeps devices and operations apart', async () => {
    const { exporter, host } = await load();
    const ops = Object.entries(Op);
    await feed(exporter, BLOCKIO, ops.flatMap(([, op]) => [
      { dev: VDA, op, slot: 20, count: op, sum_ns: op * 600_000, bytes: op * 1000 },
      { dev: SDA, op, slot: 20, count: 10 * op, sum_ns: 10 * op * 600_000, bytes: op * 2000 },
    ]));
    for (const [name, op] of ops) {
      expect(histogram(host, { device: 'vda', operation: name }).count).toBe(op);
      expect(histogram(host, { device: 'sda', operation: name }).count).toBe(10 * op);
      expect(valueOf(host.store, BYTES, { device: 'vda', operation: name })).toBe(op * 1000);
      expect(valueOf(host.store, BYTES, { device: 'sda', operation: name })).toBe(op * 2000);
    }
    expect(host.store.seriesOf('blockio')).toBe(2 * 2 * 5);
    expectClean(exporter);
  });

  it('labels an operation number it does not know as "other"', async () => {
    const { exporter, host } = await load();
    await feed(exporter, BLOCKIO, [{ dev: VDA, op: 0, slot: 12, count: 1, sum_ns: 3000, bytes: 0 }, { dev: VDA, op: 77, slot: 12, count: 2, sum_ns: 6000, bytes: 0 }]);
    expect(histogram(host, { device: 'vda', operation: 'other' }).count).toBe(3);
    expectClean(exporter);
  });

  it('falls back to "MAJ:MIN" for a device the host cannot name, decoding the kernel dev_t', async () => {
    const { exporter, host } = await load();
    const big = (259 << 20) | 0xfffff; // the largest minor the kernel encoding carries
    await feed(exporter, BLOCKIO, [
      { dev: VDB, op: Op.write, slot: 12, count: 1, sum_ns: 3000, bytes: 4096 },
      { dev: big >>> 0, op: Op.read, slot: 12, count: 1, sum_ns: 3000, bytes: 512 },
      { dev: 0, op: Op.flush, slot: 12, count: 1, sum_ns: 3000, bytes: 0 },
    ]);
    expect(histogram(host, { device: '254:16', operation: 'write' }).count).toBe(1);
    expect(valueOf(host.store, BYTES, { device: '254:16', operation: 'write' })).toBe(4096);
    expect(histogram(host, { device: '259:1048575', operation: 'read' }).count).toBe(1);
    expect(histogram(host, { device: '0:0', operation: 'flush' }).count).toBe(1);
    expectClean(exporter);
  });

  it('resolves a device when it first interns its series, not per record', async () => {
    const { exporter, resolved } = await load();
    const rec = { dev: VDA, op: Op.write, slot: 14, count: 1, sum_ns: 10_000, bytes: 4096 };
    for (let i = 0; i < 50; i++) await feed(exporter, BLOCKIO, [rec, { ...rec, slot: 15 }]);
    // The module asks once per metric (latency, bytes) of the one key, with the kernel dev_t as a
    // 32-bit id; the worker answers the second from its cache of found names.
    expect(resolved).toEqual([{ kind: RESOLVE_BLOCK_DEVICE, id: BigInt(VDA) }]);
    expectClean(exporter);
  });

  it('counts a batch whose length does not match its count as an error and keeps working', async () => {
    const { exporter, host } = await load();
    const rec = { dev: VDA, op: Op.write, slot: 14, count: 1, sum_ns: 10_000, bytes: 4096 };
    await run(exporter, BLOCKIO, encodeBatch(BLOCKIO, [rec]), 2);
    expect(exporter.errors).toBe(1);
    await feed(exporter, BLOCKIO, [rec]);
    expect(histogram(host, { device: 'vda', operation: 'write' }).count).toBe(1);
  });

  it('does not allocate per record: memory stays the same over many batches', async () => {
    const { exporter } = await load();
    const batch = (n: number) => Array.from({ length: 500 }, (_, i) => ({
      dev: i % 2 ? VDA : SDA, op: 1 + (i % 5), slot: (i + n) % 40, count: 1 + (i % 3), sum_ns: 1000 * i, bytes: 512 * i,
    }));
    await feed(exporter, BLOCKIO, batch(0));
    const warm = exporter.memoryBytes;
    for (let n = 1; n < 50; n++) await feed(exporter, BLOCKIO, batch(n));
    expect(exporter.memoryBytes).toBe(warm);
    expectClean(exporter);
  });
});
