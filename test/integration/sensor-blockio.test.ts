// Acceptance of the blockio sensor on the real kernel: O_DIRECT writes with fsync to a file on
// the disk under this repository show up on /metrics as write latency and bytes of that disk,
// by its name (e.g. vda), through helper → aggregate records → the C exporter.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskOf, directWrites, writeCache, type Disk } from '../../ebpf/blockio/disk.js';
import { ROOT, onlySensors, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';

const BLOCK = 65536;
const WRITES = 32;
const LATENCY = 'bpfwasm_block_io_latency_seconds';

/** Cumulative bucket counts of one series as [le, count], +Inf last. */
function buckets(m: Map<string, number>, labels: string): [number, number][] {
  const out: [number, number][] = [];
  for (const [k, v] of samples(m, `${LATENCY}_bucket`)) {
    if (!k.startsWith(`${labels},le="`)) continue;
    const le = k.slice(labels.length + 5, -1);
    out.push([le === '+Inf' ? Infinity : Number(le), v]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

describe('blockio sensor end to end', () => {
  let c: RunningCollector;
  let disk: Disk;
  let dir: string;

  beforeAll(async () => {
    // dist/ is on the repository's filesystem: a real disk, unlike /tmp, which may be tmpfs or zram.
    dir = mkdtempSync(join(ROOT, 'dist', 'blockio-it-'));
    disk = diskOf(dir);
    c = await startCollector({
      helper: { statsMs: 200, aggregateMs: 100 },
      sensors: onlySensors({ blockio: {} }),
    });
    await waitReady(c);
  });

  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (c) expect(await c.stop()).toBe(0);
  });

  it(`shows ${WRITES} O_DIRECT writes with fsync as write latency and bytes of the disk, by name`, async () => {
    const labels = `device="${disk.name}",operation="write"`;
    const before = await scrape(c);
    const count0 = samples(before, `${LATENCY}_count`).get(labels) ?? 0;
    const sum0 = samples(before, `${LATENCY}_sum`).get(labels) ?? 0;
    const bytes0 = samples(before, 'bpfwasm_block_io_bytes_total').get(labels) ?? 0;
    const buckets0 = new Map(buckets(before, labels));

    const started = process.hrtime.bigint();
    const written = directWrites(join(dir, 'data'), BLOCK, WRITES);
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;

    const m = await waitFor(`${WRITES} writes on ${disk.name} in /metrics`, async () => {
      const s = await scrape(c);
      const count = samples(s, `${LATENCY}_count`).get(labels) ?? 0;
      const bytes = samples(s, 'bpfwasm_block_io_bytes_total').get(labels) ?? 0;
      return count - count0 >= WRITES && bytes - bytes0 >= written ? s : undefined;
    });
    // Other writers share the disk: at least our requests, and real latency for them.
    expect(samples(m, `${LATENCY}_sum`).get(labels)! - sum0).toBeGreaterThan(0);
    const after = buckets(m, labels);
    expect(after.length).toBe(26); // 2^10 .. 2^34 ns and +Inf
    expect(after.at(-1)![1]).toBe(samples(m, `${LATENCY}_count`).get(labels));
    // Each of our writes took at most dd's wall time, so it landed in a bucket at or below the
    // first bound above that time.
    const [bound] = after.find(([le]) => le >= wallSeconds)!;
    const rose = (le: number) => after.find(([b]) => b === le)![1] - (buckets0.get(le) ?? 0);
    expect(rose(bound)).toBeGreaterThanOrEqual(WRITES);
    // A request to a real disk takes more than a microsecond: ours are all above the first bound.
    expect(rose(bound) - rose(after[0]![0])).toBeGreaterThanOrEqual(WRITES);
  });

  it('shows the fsync as flush requests of the disk when it has a write-back cache', async () => {
    if (writeCache(disk) !== 'write back') return; // a write-through disk gets no flushes
    const labels = `device="${disk.name}",operation="flush"`;
    const count0 = samples(await scrape(c), `${LATENCY}_count`).get(labels) ?? 0;
    directWrites(join(dir, 'flush'), 4096, 1);
    await waitFor(`a flush on ${disk.name} in /metrics`, async () => {
      const s = await scrape(c);
      return (samples(s, `${LATENCY}_count`).get(labels) ?? 0) > count0 ? s : undefined;
    });
  });
});
