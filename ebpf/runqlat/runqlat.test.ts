// Loads the runqlat sensor into the running kernel through the real helper, creates CPU
// contention and checks the aggregate records it streams. Needs root (CAP_BPF +
// CAP_PERFMON); a helper that cannot be built or loaded fails these tests, never skips.
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeaderOffset, RECORD_SIZE, RecordType, RunqlatOffset } from '../../src/ingest/generated/events.js';
import { StatKind } from '../../src/ingest/protocol.js';
import { HelperRun, buildHelper } from '../../test/support/helper-run.js';
import { busy } from '../../test/integration/support/processes.js';

const CGROUP2 = '/sys/fs/cgroup/unified';

interface Agg { timestampNs: bigint; cgroupId: bigint; slot: number; count: bigint; sumNs: bigint; buf: Buffer }

/** The runqlat records the helper streamed so far (the record's cgroup_id, not the header's). */
function aggs(run: HelperRun): Agg[] {
  return run.records.map((r) => ({
    timestampNs: r.timestampNs,
    cgroupId: r.fields.cgroup_id as bigint,
    slot: r.fields.slot as number,
    count: r.fields.count as bigint,
    sumNs: r.fields.sum_ns as bigint,
    buf: r.buf,
  }));
}

// Slot s holds waits in (2^(s-1), 2^s] ns (slot 0: 0 and 1 ns), so a slot's records bound their sum.
function checkSlotBounds(r: Agg): void {
  expect(r.count).toBeGreaterThan(0n);
  expect(r.slot).toBeLessThanOrEqual(64);
  const hi = 1n << BigInt(r.slot);
  const lo = r.slot === 0 ? 0n : (1n << BigInt(r.slot - 1)) + 1n;
  expect(r.sumNs).toBeGreaterThanOrEqual(lo * r.count);
  expect(r.sumNs).toBeLessThanOrEqual(hi * r.count);
}

function checkHeader(r: Agg): void {
  expect(r.buf.readUInt16LE(HeaderOffset.type)).toBe(RecordType.runqlat);
  expect(r.buf.readUInt16LE(HeaderOffset.size)).toBe(RECORD_SIZE[RecordType.runqlat]);
  expect(r.buf.readUInt32LE(HeaderOffset.cpu)).toBe(0xffffffff);
  expect(r.buf.readUInt32LE(HeaderOffset.pid)).toBe(0);
  expect(r.buf.readUInt32LE(RunqlatOffset.slot + 4)).toBe(0); // _pad
}

function sum<T>(xs: T[], f: (x: T) => bigint): bigint {
  return xs.reduce((a, x) => a + f(x), 0n);
}

function lastStat(run: HelperRun, kind: number): number {
  return run.statsFrames.at(-1)!.stats.filter((s) => s.kind === kind).reduce((a, s) => a + s.value, 0);
}

beforeAll(() => {
  buildHelper();
});

const PROGRAMS = ['handle_wakeup', 'handle_wakeup_new', 'handle_switch', 'handle_wakeup_pid', 'handle_wakeup_new_pid', 'handle_switch_pid'];
/** Both routes work on this kernel (README "Routes"); each loads only its own three programs. */
const ROUTES = [
  { route: 'task_storage', programs: PROGRAMS.slice(0, 3) },
  { route: 'pid_hash', programs: PROGRAMS.slice(3) },
];

describe.each(ROUTES)('runqlat sensor, whole node, route $route', ({ route, programs }) => {
  let run: HelperRun;
  let loadStartNs: bigint;
  let loadEndNs: bigint;

  beforeAll(async () => {
    run = new HelperRun(['--sensors', 'runqlat', '--route', `runqlat=${route}`, '--aggregate-ms', '100', '--stats-ms', '200']);
    await run.waitReady();
    loadStartNs = process.hrtime.bigint();
    expect(await busy(4, 1000)).toBe(0);
    loadEndNs = process.hrtime.bigint();
    // Two aggregate rounds after the load ends, so its last waits are in.
    const seen = aggs(run).length;
    await run.waitFor('aggregate records after the load', () => {
      const later = aggs(run).slice(seen).map((r) => r.timestampNs);
      return new Set(later).size >= 2;
    });
    expect((await run.stop()).code).toBe(0);
  }, 30_000);

  afterAll(() => {
    if (run && run.proc.exitCode === null) run.proc.kill('SIGKILL');
  });

  it('announces every route\'s programs, the runqlat record and its route, and loads only its own programs', () => {
    expect(run.control[0]?.message).toMatchObject({
      sensors: [{ name: 'runqlat', programs: PROGRAMS, record_types: [RecordType.runqlat], routes: ['task_storage', 'pid_hash'] }],
    });
    expect(run.control.find((c) => c.kind === 'ready')?.message.routes).toEqual({ runqlat: route });
    const loaded = run.statsFrames.at(-1)!.stats.filter((s) => s.kind === StatKind.PROG_RUN_COUNT).map((s) => PROGRAMS[s.index]);
    expect(loaded.sort()).toEqual([...programs].sort());
    expect(run.stderr).toBe('');
    expect(run.errors).toEqual([]);
  });

  it('streams aggregate records every --aggregate-ms with consistent slots and sums', () => {
    const recs = aggs(run);
    expect(recs.length).toBeGreaterThan(0);
    for (const r of recs) {
      checkHeader(r);
      checkSlotBounds(r);
      expect(r.cgroupId).toBe(0n); // per_cgroup is off by default
    }
    // One record per key per round: a key never repeats within one read of the map.
    const rounds = new Map<bigint, Set<number>>();
    for (const r of recs) {
      const slots = rounds.get(r.timestampNs) ?? new Set<number>();
      expect(slots.has(r.slot)).toBe(false);
      slots.add(r.slot);
      rounds.set(r.timestampNs, slots);
    }
    // Rounds ~100 ms apart over the 1 s load at least.
    const during = [...rounds.keys()].filter((t) => t >= loadStartNs && t <= loadEndNs);
    expect(during.length).toBeGreaterThanOrEqual(5);
  });

  it('sees the contention of 4 busy threads on 2 CPUs as waits of a scheduler slice', () => {
    const during = aggs(run).filter((r) => r.timestampNs > loadStartNs && r.timestampNs <= loadEndNs + 300_000_000n);
    // 4 threads on 2 CPUs for 1 s: each thread waits about half the time, in waits of about
    // one slice (~1-3 ms), so there are hundreds of waits of >= 256 us (slot 19 and up).
    const long = during.filter((r) => r.slot >= 19);
    expect(sum(long, (r) => r.count)).toBeGreaterThan(100n);
    // The waits add up to a good part of the threads' 2 CPU-seconds of waiting.
    expect(sum(long, (r) => r.sumNs)).toBeGreaterThan(500_000_000n);
  });

  it('loses nothing: no map-full inserts and no ring drops', () => {
    expect(lastStat(run, StatKind.MAP_FULL)).toBe(0);
    expect(lastStat(run, StatKind.RING_DROPS)).toBe(0);
  });
});

describe('runqlat sensor, per cgroup', () => {
  const dir = join(CGROUP2, `bpfwasm-runqlat-${process.pid}`);
  let run: HelperRun;

  beforeAll(async () => {
    mkdirSync(dir);
    run = new HelperRun(['--sensors', 'runqlat', '--set', 'runqlat.per_cgroup=1', '--aggregate-ms', '100', '--stats-ms', '200']);
    await run.waitReady();
    expect(await busy(4, 700, dir)).toBe(0);
    const seen = aggs(run).length;
    await run.waitFor('aggregate records after the load', () => new Set(aggs(run).slice(seen).map((r) => r.timestampNs)).size >= 2);
    expect((await run.stop()).code).toBe(0);
  }, 30_000);

  afterAll(() => {
    if (run && run.proc.exitCode === null) run.proc.kill('SIGKILL');
    // The busy process has exited, so the group is empty and can go.
    if (existsSync(dir)) rmdirSync(dir);
  });

  it('keys the waits by the task\'s cgroup v2 id (the directory\'s inode)', () => {
    const id = BigInt(statSync(dir).ino);
    const ours = aggs(run).filter((r) => r.cgroupId === id);
    for (const r of ours) {
      checkHeader(r);
      checkSlotBounds(r);
    }
    // 4 threads runnable for 0.7 s on 2 CPUs wait at least 1.4 s in all; a quarter of it is a
    // safe floor (thread start-up eats into the window), in waits of a scheduler slice.
    expect(sum(ours, (r) => r.sumNs)).toBeGreaterThan(350_000_000n);
    expect(sum(ours.filter((r) => r.slot >= 19), (r) => r.count)).toBeGreaterThan(20n);
    // Everything else on the node is keyed by its own cgroup, never 0.
    expect(aggs(run).every((r) => r.cgroupId !== 0n)).toBe(true);
    // This test process was woken by its timers meanwhile, so its own cgroup is a key too.
    const self = readFileSync('/proc/self/cgroup', 'utf8').match(/^0::(.*)$/m)?.[1] ?? '';
    const selfId = BigInt(statSync(join(CGROUP2, self)).ino);
    expect(aggs(run).some((r) => r.cgroupId === selfId)).toBe(true);
    expect(lastStat(run, StatKind.MAP_FULL)).toBe(0);
  });
});
