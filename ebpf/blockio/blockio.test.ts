// Loads the blockio sensor into the running kernel through the real helper, drives O_DIRECT
// I/O on a loop device only this test uses and checks that the aggregate records it streams
// count exactly those requests. Needs
// root (CAP_BPF + CAP_PERFMON); a helper that cannot be built or loaded fails, never skips.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockioLatencyOffset, RecordType } from '../../src/ingest/generated/events.js';
import { StatKind } from '../../src/ingest/protocol.js';
import { EBPF_DIR, HelperRun, buildHelper, type EventRecord } from '../../test/support/helper-run.js';
import { diskIo, directReads, directWrites, loopDisk, writeCache, type Disk } from './disk.js';

const Op = { read: 1, write: 2, flush: 3, discard: 4, other: 5 } as const;
const BLOCK = 65536;
const WRITES = 64;

interface Agg {
  timestampNs: bigint;
  dev: number;
  op: number;
  slot: number;
  count: number;
  sumNs: number;
  bytes: number;
}

const aggs: Agg[] = [];
/** Aggregate records whose header is more than type, size, cpu 0xffffffff and the read time. */
const malformed: string[] = [];

function onRecord(r: EventRecord): void {
  if (r.cpu !== 0xffffffff || r.pid !== 0 || r.buf.readUInt32LE(BlockioLatencyOffset.slot + 4) !== 0) {
    malformed.push(`malformed blockio_latency record ${r.buf.toString('hex')}`);
  }
  aggs.push({
    timestampNs: r.timestampNs,
    dev: r.fields.dev as number,
    op: r.fields.op as number,
    slot: r.fields.slot as number,
    count: Number(r.fields.count),
    sumNs: Number(r.fields.sum_ns),
    bytes: Number(r.fields.bytes),
  });
}

/** Totals of the records read after `sinceNs` (CLOCK_MONOTONIC) for one disk and operation. */
function totals(dev: number, op: number, sinceNs: bigint): { count: number; bytes: number; records: Agg[] } {
  const records = aggs.filter((a) => a.dev === dev && a.op === op && a.timestampNs > sinceNs);
  return {
    count: records.reduce((n, a) => n + a.count, 0),
    bytes: records.reduce((n, a) => n + a.bytes, 0),
    records,
  };
}

/** What arrived since `sinceNs`, per disk and operation: a timeout says what it saw instead. */
function seenSince(sinceNs: bigint): string {
  const byKey = new Map<string, { count: number; bytes: number }>();
  for (const a of aggs) {
    if (a.timestampNs <= sinceNs) continue;
    const key = `dev ${a.dev >>> 20}:${a.dev & 0xfffff} op ${a.op}`;
    const t = byKey.get(key) ?? { count: 0, bytes: 0 };
    t.count += a.count;
    t.bytes += a.bytes;
    byKey.set(key, t);
  }
  const totals = [...byKey].map(([k, t]) => `${k}: ${t.count} requests, ${t.bytes} bytes`).join('; ');
  const last = aggs.at(-1)?.timestampNs;
  return `seen since: ${totals || 'nothing'}; ${aggs.length} records in all, the last at ${last ?? '-'} ns (test started at ${sinceNs} ns)`;
}

/** Waits for `probe`; on a timeout the error also says what the helper did send. */
async function waitSeen<T>(helper: HelperRun, what: string, sinceNs: bigint, probe: () => T | undefined | false): Promise<T> {
  try {
    return await helper.waitFor(what, probe);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${seenSince(sinceNs)}; STATS frames: ${helper.statsFrames.length}`);
  }
}

const PROGRAMS = ['blk_rq_issue', 'blk_rq_complete', 'blk_rq_requeue', 'blk_rq_issue_raw', 'blk_rq_complete_raw', 'blk_rq_requeue_raw'];
/** Each route's issue and complete programs (README "Routes"); both work on this kernel. */
const ROUTES = [
  { route: 'tp_btf', issue: 'blk_rq_issue', complete: 'blk_rq_complete', requeue: 'blk_rq_requeue' },
  { route: 'raw_tp', issue: 'blk_rq_issue_raw', complete: 'blk_rq_complete_raw', requeue: 'blk_rq_requeue_raw' },
];

describe.each(ROUTES)('blockio sensor, route $route', ({ route, issue, complete, requeue }) => {
  let helper: HelperRun;
  let disk: Disk;
  let dir: string;

  beforeAll(async () => {
    buildHelper();
    aggs.length = 0;
    malformed.length = 0;
    dir = mkdtempSync(join(EBPF_DIR, 'build', 'blockio-test-'));
    disk = loopDisk(dir);
    helper = new HelperRun(['--sensors', 'blockio', '--route', `blockio=${route}`, '--aggregate-ms', '100', '--stats-ms', '200'], { onRecord, keepRecords: false });
    await helper.waitReady();
  });

  afterAll(async () => {
    if (helper) await helper.stop('stdin');
    disk?.detach();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("announces every route's programs, the blockio_latency record and its route", () => {
    expect(helper.control[0]).toEqual({
      kind: 'hello',
      message: expect.objectContaining({
        sensors: [{
          id: 0, name: 'blockio', programs: PROGRAMS,
          record_types: [RecordType.blockio_latency], routes: ['tp_btf', 'raw_tp'],
        }],
      }),
    });
    const ready = helper.control.find((c) => c.kind === 'ready')?.message;
    expect(ready?.sensors).toEqual(['blockio']);
    expect(ready?.routes).toEqual({ blockio: route });
  });

  /** The records since `sinceNs` once `wanted` requests of `op` arrived and two more STATS frames
   * followed (so a late record would have come): exactly what the sensor counted. */
  async function settled(what: string, op: number, sinceNs: bigint, wanted: number) {
    await waitSeen(helper, what, sinceNs, () => totals(disk.dev, op, sinceNs).count >= wanted || undefined);
    const seen = helper.statsFrames.length;
    await helper.waitFor('two more STATS frames', () => helper.statsFrames.length >= seen + 2);
    return totals(disk.dev, op, sinceNs);
  }

  it(`counts exactly ${WRITES} O_DIRECT writes of ${BLOCK} bytes and the fsync's flush, as the kernel does, with consistent slots`, async () => {
    const started = process.hrtime.bigint();
    const before = diskIo(disk);
    const written = directWrites(disk.path, BLOCK, WRITES);
    const wallNs = Number(process.hrtime.bigint() - started);
    const kernel = diskIo(disk);

    const w = await settled(`${WRITES} writes on ${disk.name}`, Op.write, started, WRITES);
    expect({ count: w.count, bytes: w.bytes }).toEqual({ count: WRITES, bytes: written });
    // The kernel's own count agrees: its write I/Os also hold the fsync's empty preflush write,
    // which reached the disk as the one flush request the sensor counts.
    expect(kernel.writeBytes - before.writeBytes).toBe(written);
    const flushes = totals(disk.dev, Op.flush, started);
    if (writeCache(disk) === 'write back') {
      expect(kernel.writes - before.writes).toBe(WRITES + 1);
      expect(flushes.count).toBe(kernel.flushes - before.flushes);
      expect(flushes.count).toBe(1);
      expect(flushes.bytes).toBe(0); // a flush carries no data
    } else {
      expect(flushes.count).toBe(0);
    }
    for (const r of w.records) {
      // Every request took between 1 µs (a round trip through the loop driver's worker takes longer) and 2^34 ns.
      expect(r.slot).toBeGreaterThanOrEqual(10);
      expect(r.slot).toBeLessThanOrEqual(34);
      // A slot holds latencies in (2^(slot-1), 2^slot] ns, so its sum is bounded by its count.
      expect(r.sumNs).toBeGreaterThan(r.count * 2 ** (r.slot - 1));
      expect(r.sumNs).toBeLessThanOrEqual(r.count * 2 ** r.slot);
      expect(r.bytes % 512).toBe(0);
    }
    // Our writes are synchronous: each finished within dd's wall time, so in a slot at or
    // below the one that wall time falls in.
    const wallSlot = Math.ceil(Math.log2(wallNs));
    expect(w.records.filter((r) => r.slot <= wallSlot).reduce((n, r) => n + r.count, 0)).toBe(WRITES);
  });

  it(`counts exactly ${WRITES} O_DIRECT reads with their bytes, as the kernel does`, async () => {
    const started = process.hrtime.bigint();
    const before = diskIo(disk);
    const read = directReads(disk.path, BLOCK, WRITES);
    const kernel = diskIo(disk);
    const r = await settled(`${WRITES} reads on ${disk.name}`, Op.read, started, WRITES);
    expect({ count: r.count, bytes: r.bytes }).toEqual({ count: WRITES, bytes: read });
    expect({ count: kernel.reads - before.reads, bytes: kernel.readBytes - before.readBytes }).toEqual({ count: WRITES, bytes: read });
    for (const rec of r.records) {
      expect(rec.sumNs).toBeGreaterThan(rec.count * 2 ** (rec.slot - 1));
      expect(rec.sumNs).toBeLessThanOrEqual(rec.count * 2 ** rec.slot);
    }
    // Nothing else touched the disk: no write and no other operation since.
    expect(aggs.filter((a) => a.dev === disk.dev && a.op !== Op.read && a.timestampNs > started)).toEqual([]);
  });

  it("reports every record it wrote, no full map, and runs of its route's issue and complete programs", async () => {
    const seen = helper.statsFrames.length;
    await helper.waitFor('two more STATS frames', () => helper.statsFrames.length >= seen + 2);
    expect(helper.errors).toEqual([]);
    expect(malformed).toEqual([]);
    expect(aggs.every((a) => a.op >= Op.read && a.op <= Op.other && a.count > 0)).toBe(true);
    const last = helper.statsFrames.at(-1)!.stats;
    const sum = (kind: number) => last.filter((s) => s.kind === kind && s.sensor === 0).reduce((n, s) => n + s.value, 0);
    expect(sum(StatKind.MAP_FULL)).toBe(0);
    expect(sum(StatKind.RING_DROPS)).toBe(0);
    const runs = last.filter((s) => s.kind === StatKind.PROG_RUN_COUNT && s.sensor === 0);
    expect(runs.find((s) => s.index === PROGRAMS.indexOf(issue))?.value).toBeGreaterThan(0);
    expect(runs.find((s) => s.index === PROGRAMS.indexOf(complete))?.value).toBeGreaterThan(0);
    // Only the chosen route's programs are loaded, so only they have run stats.
    expect(runs.map((s) => PROGRAMS[s.index]).sort()).toEqual([issue, complete, requeue].sort());
  });
});
