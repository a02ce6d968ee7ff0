// The runqlat exporter fed synthetic aggregate records: log2 slots into the seconds buckets,
// sums, and the cgroup label decided by the perCgroup setting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ResolveKind } from '../../src/exporters/abi.js';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { BUILD_DIR, buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, seriesId, testHost, type RecordValues, type TestHost, loadExporter, run } from './helpers.js';

const METRIC = 'bpfwasm_runqueue_latency_seconds';
const TYPE = RecordType.runqlat;
const bound = (s: number) => 2 ** s / 1e9; // upper bound of log2 slot s, in seconds

beforeAll(async () => {
  await buildAll();
}, 120_000);

async function load(settings?: Record<string, string>, names?: Record<string, string>): Promise<{ exporter: Exporter; host: TestHost }> {
  const host = testHost({
    ...(settings ? { settings: { runqlat: settings } } : {}),
    ...(names ? { names: { [ResolveKind.CGROUP_PATH]: names } } : {}),
  });
  const exporter = await loadExporter('runqlat', readFileSync(join(BUILD_DIR, 'runqlat.wasm')), host);
  return { exporter, host };
}

async function feed(exporter: Exporter, records: RecordValues[]): Promise<void> {
  await run(exporter, TYPE, encodeBatch(TYPE, records), records.length);
}

function expectClean(exporter: Exporter): void {
  expect({ errors: exporter.errors, traps: exporter.traps, rejectedOps: exporter.rejectedOps, rejectedCalls: exporter.rejectedCalls })
    .toEqual({ errors: 0, traps: 0, rejectedOps: 0, rejectedCalls: 0 });
}

/** Per-bucket (not cumulative) counts of a histogram series, the last one +Inf. */
function perBucket(host: TestHost, labels: Record<string, string>): { buckets: number[]; sum: number; count: number } {
  const id = seriesId(host.store, METRIC, labels);
  if (id === undefined) throw new Error(`no ${METRIC} series ${JSON.stringify(labels)}`);
  const h = host.store.histogram(id);
  return { buckets: h.cumulative.map((c, i) => c - (i ? h.cumulative[i - 1]! : 0)), sum: h.sum, count: h.count };
}

describe('runqlat exporter', () => {
  it('declares one histogram with log2 buckets 2^10..2^34 ns and no labels by default', async () => {
    const { exporter, host } = await load();
    expect(exporter.subscriptions).toEqual([TYPE]);
    const family = host.store.families.find((f) => f.spec.name === METRIC)!;
    expect(family.spec).toMatchObject({ kind: 'histogram', labelNames: [] });
    expect([...family.bounds]).toEqual(Array.from({ length: 25 }, (_, i) => bound(10 + i)));
    expectClean(exporter);
  });

  it('puts every slot in the bucket whose bound is 2^slot ns, slots <= 10 in the first and > 34 in +Inf', async () => {
    const { exporter, host } = await load({ perCgroup: 'false' });
    // slot s holds waits in (2^(s-1), 2^s] ns; give each slot s a count of s and waits of 2^s ns.
    const recs: RecordValues[] = [];
    for (const slot of [0, 1, 9, 10, 11, 20, 34, 35, 40]) recs.push({ slot, count: slot + 1, sum_ns: BigInt(slot + 1) * (1n << BigInt(slot)) });
    await feed(exporter, recs);
    const h = perBucket(host, {});
    const expected = new Array(26).fill(0);
    expected[0] = 1 + 2 + 10 + 11; // slots 0, 1, 9, 10
    expected[1] = 12; // slot 11: (1024, 2048] ns
    expected[10] = 21; // slot 20
    expected[24] = 35; // slot 34, the last finite bound (2^34 ns = 17.2 s)
    expected[25] = 36 + 41; // slots 35 and 40: +Inf
    expect(h.buckets).toEqual(expected);
    expect(h.count).toBe(expected.reduce((a, n) => a + n, 0));
    const sumNs = recs.reduce((a, r) => a + BigInt(r.sum_ns as bigint), 0n);
    expect(h.sum).toBeCloseTo(Number(sumNs) / 1e9, 6);
    expectClean(exporter);
  });

  it('adds increases up across batches; a record with count 0 changes nothing', async () => {
    const { exporter, host } = await load();
    await feed(exporter, [{ slot: 20, count: 3, sum_ns: 2_400_000 }]);
    await feed(exporter, [{ slot: 20, count: 2, sum_ns: 1_600_000 }, { slot: 12, count: 0, sum_ns: 0 }]);
    const h = perBucket(host, {});
    expect(h.buckets[10]).toBe(5);
    expect(h.count).toBe(5);
    expect(h.sum).toBeCloseTo(0.004, 12);
    expectClean(exporter);
  });

  it('ignores cgroup ids when perCgroup is off: one node-wide series', async () => {
    const { exporter, host } = await load({ perCgroup: 'false' }, { '77': '/system.slice/x.service' });
    await feed(exporter, [{ cgroup_id: 77n, slot: 15, count: 4, sum_ns: 100_000 }, { cgroup_id: 0n, slot: 15, count: 1, sum_ns: 20_000 }]);
    expect(host.store.families.find((f) => f.spec.name === METRIC)!.series.size).toBe(1);
    expect(perBucket(host, {}).buckets[5]).toBe(5);
    expectClean(exporter);
  });

  it('labels by cgroup path with perCgroup, falling back to the numeric id when unresolved', async () => {
    const { exporter, host } = await load({ perCgroup: 'true' }, { '77': '/system.slice/x.service', '1': '/' });
    await feed(exporter, [
      { cgroup_id: 77n, slot: 15, count: 4, sum_ns: 100_000 },
      { cgroup_id: 1n, slot: 22, count: 2, sum_ns: 5_000_000 },
      { cgroup_id: 0x1_0000_0005n, slot: 10, count: 1, sum_ns: 900 }, // a 64-bit id the host does not know
    ]);
    await feed(exporter, [{ cgroup_id: 77n, slot: 16, count: 1, sum_ns: 40_000 }]);
    const family = host.store.families.find((f) => f.spec.name === METRIC)!;
    expect(family.spec.labelNames).toEqual(['cgroup']);
    expect(family.series.size).toBe(3);

    const svc = perBucket(host, { cgroup: '/system.slice/x.service' });
    expect(svc.buckets[5]).toBe(4);
    expect(svc.buckets[6]).toBe(1);
    expect(svc.count).toBe(5);
    expect(svc.sum).toBeCloseTo(0.00014, 12);
    expect(perBucket(host, { cgroup: '/' }).buckets[12]).toBe(2);
    expect(perBucket(host, { cgroup: String(0x1_0000_0005n) }).buckets[0]).toBe(1);
    expectClean(exporter);
  });

  it('retries an unnamed cgroup once per batch and switches to its path once the host knows it', async () => {
    const names: Record<string, string> = {};
    const { exporter, host } = await load({ perCgroup: 'true' }, names);
    const rec = { cgroup_id: 4242n, slot: 20, count: 1, sum_ns: 600_000 };
    await feed(exporter, [rec, { ...rec, slot: 21, sum_ns: 1_200_000 }]);
    names['4242'] = '/kubepods/pod-a'; // the host's next rescan found the new group
    await feed(exporter, [rec]);
    await feed(exporter, [rec]);
    expect(perBucket(host, { cgroup: '4242' }).count).toBe(2);
    expect(perBucket(host, { cgroup: '/kubepods/pod-a' }).count).toBe(2);
    expectClean(exporter);
  });

  it('labels the largest 64-bit id in decimal, and allocates nothing while an id stays unnamed', async () => {
    const { exporter, host } = await load({ perCgroup: 'true' });
    const max = 0xffff_ffff_ffff_ffffn;
    await feed(exporter, [{ cgroup_id: max, slot: 12, count: 1, sum_ns: 3000 }]);
    const memory = exporter.memoryBytes;
    for (let i = 0; i < 2000; i++) await feed(exporter, [{ cgroup_id: max, slot: 12, count: 1, sum_ns: 3000 }]);
    expect(perBucket(host, { cgroup: '18446744073709551615' }).count).toBe(2001);
    expect(exporter.memoryBytes).toBe(memory);
    expectClean(exporter);
  });

  it('interns the node-wide series again after it expired, starting from zero', async () => {
    const { exporter, host } = await load();
    await feed(exporter, [{ slot: 20, count: 3, sum_ns: 2_000_000 }]);
    host.store.now = 100;
    const idle = host.store.idleSeries('runqlat', 50);
    expect(idle).toHaveLength(1);
    expect(await exporter.forget(idle)).toBe(true);
    host.store.free(idle);
    await feed(exporter, [{ slot: 20, count: 1, sum_ns: 700_000 }]);
    expect(perBucket(host, {}).count).toBe(1);
    expectClean(exporter);
  });

  it('refuses a batch of another type or a truncated one', async () => {
    const { exporter } = await load();
    const ok = encodeBatch(TYPE, [{ slot: 12, count: 1, sum_ns: 3000 }]);
    await run(exporter, TYPE, ok.subarray(0, ok.length - 8), 1);
    await run(exporter, RecordType.process_exec, encodeBatch(RecordType.process_exec, [{ ppid: 1 }]), 1);
    expect(exporter.errors).toBe(2);
  });
});
