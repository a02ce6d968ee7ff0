// runqlat end to end on the real kernel: 4 busy threads on 2 CPUs for 2 s, scraped from a real
// collector as the run-queue latency histogram, for the whole node and per cgroup v2 group.
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samples, scrape, startCollector, waitFor, waitReady, onlySensors, type RunningCollector } from './support/collector.js';
import { busy } from './support/processes.js';

const METRIC = 'bpfwasm_runqueue_latency_seconds';
const CGROUP2 = '/sys/fs/cgroup/unified';

interface Histogram { buckets: [number, number][]; count: number; sum: number }

/** One series of a histogram from a scrape; `labels` is the label text before `le` ('' for none). */
function histogram(m: Map<string, number>, labels: string): Histogram | undefined {
  const prefix = labels ? `${labels},le="` : 'le="';
  const buckets: [number, number][] = [];
  for (const [k, v] of samples(m, `${METRIC}_bucket`)) {
    if (!k.startsWith(prefix)) continue;
    const le = k.slice(prefix.length, -1);
    buckets.push([le === '+Inf' ? Infinity : Number(le), v]);
  }
  if (buckets.length === 0) return undefined;
  buckets.sort((a, b) => a[0] - b[0]);
  return { buckets, count: samples(m, `${METRIC}_count`).get(labels) ?? 0, sum: samples(m, `${METRIC}_sum`).get(labels) ?? 0 };
}

/** `after` minus `before` (a series that did not exist yet counts as zero). */
function delta(after: Histogram, before: Histogram | undefined): Histogram {
  return {
    buckets: after.buckets.map(([le, v], i) => [le, v - (before?.buckets[i]?.[1] ?? 0)]),
    count: after.count - (before?.count ?? 0),
    sum: after.sum - (before?.sum ?? 0),
  };
}

/** The q-quantile as PromQL's histogram_quantile computes it: linear within the bucket of rank q·count. */
function histogramQuantile(q: number, h: Histogram): number {
  const total = h.buckets.at(-1)![1];
  if (total === 0) return NaN;
  const rank = q * total;
  const i = h.buckets.findIndex(([, cum]) => cum >= rank);
  if (h.buckets[i]![0] === Infinity) return h.buckets[i - 1]![0]; // as Prometheus: the highest finite bound
  const [end, cum] = h.buckets[i]!;
  const [start, prevCum] = i === 0 ? [0, 0] : h.buckets[i - 1]!;
  if (cum === prevCum) return end;
  return start + (end - start) * ((rank - prevCum) / (cum - prevCum));
}

/** Buckets are 2^10 .. 2^34 ns in seconds, then +Inf. */
function checkShape(h: Histogram): void {
  const bounds = h.buckets.map(([le]) => le);
  expect(bounds).toEqual([...Array.from({ length: 25 }, (_, i) => 2 ** (10 + i) / 1e9), Infinity]);
  for (let i = 1; i < h.buckets.length; i++) expect(h.buckets[i]![1]).toBeGreaterThanOrEqual(h.buckets[i - 1]![1]);
  expect(h.buckets.at(-1)![1]).toBe(h.count);
}

describe('runqlat sensor on the real kernel, whole node', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    c = await startCollector({ helper: { statsMs: 200 }, sensors: onlySensors({ runqlat: {} }) });
    await waitReady(c);
  }, 30_000);

  afterAll(async () => {
    if (c) expect(await c.stop()).toBe(0);
  });

  it('observes the waits of 4 busy threads on 2 CPUs for 2 s, with a p50 above zero', async () => {
    // The node always schedules something, so the histogram exists before the load.
    const before = await waitFor('the runqlat histogram', async () => histogram(await scrape(c), ''));
    checkShape(before);
    const started = Date.now();
    expect(await busy(4, 2000)).toBe(0);
    const wallSeconds = (Date.now() - started) / 1000;

    // The aggregate of the load's last waits arrives within an --aggregate-ms period.
    const h = await waitFor('the load in the histogram', async () => {
      const d = delta(histogram(await scrape(c), '')!, before);
      return d.sum >= wallSeconds ? d : undefined;
    });
    checkShape(histogram(await scrape(c), '')!);
    // 4 threads runnable for 2 s on 2 CPUs wait about 4 s in all, in slices of milliseconds,
    // so there are hundreds of observations above 256 us (bound 2^18 ns).
    const at = (le: number) => h.buckets.find(([b]) => b === le)![1];
    expect(h.count - at(2 ** 18 / 1e9)).toBeGreaterThan(200);
    expect(histogramQuantile(0.5, h)).toBeGreaterThan(0);
  }, 30_000);
});

describe('runqlat sensor on the real kernel, per cgroup', () => {
  const name = `bpfwasm-runqlat-it-${process.pid}`;
  const dir = join(CGROUP2, name);
  let c: RunningCollector;

  beforeAll(async () => {
    mkdirSync(dir);
    c = await startCollector({ helper: { statsMs: 200 }, sensors: onlySensors({ runqlat: { perCgroup: true } }) });
    await waitReady(c);
  }, 30_000);

  afterAll(async () => {
    if (c) expect(await c.stop()).toBe(0);
    // The busy process has exited, so the group is empty and can go.
    if (existsSync(dir)) rmdirSync(dir);
  });

  it('labels the busy group\'s waits with its cgroup path, its p50 a scheduler slice', async () => {
    const started = Date.now();
    expect(await busy(4, 2000, dir)).toBe(0);
    const wallSeconds = (Date.now() - started) / 1000;

    // The group existed before the collector started, so the resolver names it by its path.
    const label = `cgroup="/${name}"`;
    const h = await waitFor('the busy group in the histogram', async () => {
      const m = await scrape(c);
      const series = histogram(m, label);
      // Its threads wait about 4 s in all; most of it is in once the last aggregate is in.
      return series && series.sum >= wallSeconds / 2 ? series : undefined;
    });
    checkShape(h);
    // Busy threads wait mostly for whole slices of the others (milliseconds): p50 above 131 us.
    const p50 = histogramQuantile(0.5, h);
    expect(p50).toBeGreaterThan(2 ** 17 / 1e9);
    // Every series has a cgroup: a path, or the numeric id of a group gone before it was resolved;
    // ours was never labelled by its id (the directory's inode).
    const m = await scrape(c);
    for (const k of samples(m, `${METRIC}_count`).keys()) expect(k).toMatch(/^cgroup="(\/.*|\d+)"$/);
    expect(histogram(m, `cgroup="${statSync(dir).ino}"`)).toBeUndefined();
  }, 30_000);
});
