// Acceptance of the blockio sensor on the real kernel: O_DIRECT writes with fsync to a loop
// device only this test uses show up on /metrics as exactly that many writes, their bytes and
// the flush, of that disk by its name (e.g. loop3), through helper → aggregate records → the C exporter.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directWrites, loopDisk, writeCache, type Disk } from '../../ebpf/blockio/disk.js';
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
    dir = mkdtempSync(join(ROOT, 'dist', 'blockio-it-'));
    disk = loopDisk(dir);
    c = await startCollector({
      helper: { statsMs: 200, aggregateMs: 100 },
      sensors: onlySensors({ blockio: {} }),
    });
    await waitReady(c);
  });

  afterAll(async () => {
    if (c) expect(await c.stop()).toBe(0);
    disk?.detach();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`shows exactly ${WRITES} O_DIRECT writes, their bytes and the fsync's flush as latency of the disk, by name`, async () => {
    const labels = `device="${disk.name}",operation="write"`;
    const flushLabels = `device="${disk.name}",operation="flush"`;
    const before = await scrape(c);
    const count0 = samples(before, `${LATENCY}_count`).get(labels) ?? 0;
    const sum0 = samples(before, `${LATENCY}_sum`).get(labels) ?? 0;
    const bytes0 = samples(before, 'bpfwasm_block_io_bytes_total').get(labels) ?? 0;
    const flushes0 = samples(before, `${LATENCY}_count`).get(flushLabels) ?? 0;
    const buckets0 = new Map(buckets(before, labels));

    const started = process.hrtime.bigint();
    const written = directWrites(disk.path, BLOCK, WRITES);
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;

    await waitFor(`${WRITES} writes on ${disk.name} in /metrics`, async () => {
      const s = await scrape(c);
      return (samples(s, `${LATENCY}_count`).get(labels) ?? 0) - count0 >= WRITES ? s : undefined;
    });
    // Two aggregate periods and a STATS frame later, nothing more came: exactly ours.
    await new Promise((r) => setTimeout(r, 500));
    const m = await scrape(c);
    expect(samples(m, `${LATENCY}_count`).get(labels)! - count0).toBe(WRITES);
    expect(samples(m, 'bpfwasm_block_io_bytes_total').get(labels)! - bytes0).toBe(written);
    expect(samples(m, `${LATENCY}_sum`).get(labels)! - sum0).toBeGreaterThan(0);
    if (writeCache(disk) === 'write back') expect((samples(m, `${LATENCY}_count`).get(flushLabels) ?? 0) - flushes0).toBe(1);
    const after = buckets(m, labels);
    expect(after.length).toBe(26); // 2^10 .. 2^34 ns and +Inf
    expect(after.at(-1)![1]).toBe(samples(m, `${LATENCY}_count`).get(labels));
    // Each of our writes took at most dd's wall time, so it landed in a bucket at or below the
    // first bound above that time.
    const [bound] = after.find(([le]) => le >= wallSeconds)!;
    const rose = (le: number) => after.find(([b]) => b === le)![1] - (buckets0.get(le) ?? 0);
    expect(rose(bound)).toBe(WRITES);
    // A request takes more than a microsecond: ours are all above the first bound.
    expect(rose(after[0]![0])).toBe(0);
  });
});
