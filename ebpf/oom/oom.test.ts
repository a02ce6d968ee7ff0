// Loads the oom sensor into the running kernel through the real helper, OOM-kills a process
// inside a 32 MiB memory cgroup, and checks the oom_kill record field by field. Needs root;
// a helper that cannot be built or loaded fails these tests, it never skips them.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeaderOffset, OomKillOffset, RECORD_SIZE, RecordType } from '../../src/ingest/generated/events.js';
import { StatKind as Stat } from '../../src/ingest/protocol.js';
import { createMemoryCgroup, type MemoryCgroup } from '../../test/integration/support/cgroups.js';
import { uniqueBinary } from '../../test/integration/support/processes.js';
import { HelperRun, buildHelper, cstring } from '../../test/support/helper-run.js';

const LIMIT = 32 << 20;
const PAGE = 4096;

function cstr(buf: Buffer, offset: number): string {
  return cstring(buf.subarray(offset, offset + 16));
}

/** Inode of our own cgroup v2 directory: the victim's victim_cgroup_id (it inherits it). */
function ownCgroupV2Id(): bigint {
  const mount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' - ')[1]?.startsWith('cgroup2 '));
  if (!mount) throw new Error('no cgroup2 mount');
  const point = mount.split(' ')[4]!;
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
  return BigInt(statSync(join(point, own)).ino);
}

let helper: HelperRun;
const cgroups: MemoryCgroup[] = [];
/** The oom_kill records so far. */
const records = (): Buffer[] => helper.records.map((r) => r.buf);

beforeAll(async () => {
  buildHelper();
  helper = new HelperRun(['--sensors', 'oom', '--poll-ms', '5', '--stats-ms', '200']);
  await helper.waitReady();
});

afterAll(async () => {
  if (helper) await helper.stop('stdin');
  for (const cg of cgroups) await cg.remove();
});

/** Runs a uniquely named `tail` that buffers /dev/zero (no newline ever) until the limit kills it. */
async function oomInCgroup(cg: MemoryCgroup, scoreAdj: number): Promise<{ pid: number; comm: string }> {
  const tail = uniqueBinary(execFileSync('sh', ['-c', 'command -v tail']).toString().trim(), 'oomk');
  const child = cg.spawn(['/bin/sh', '-c', `echo ${scoreAdj} > /proc/self/oom_score_adj && exec "$0" /dev/zero`, tail.path], {
    addressSpaceKiB: 256 << 10,
  });
  const exit = await new Promise<{ code: number | null; signal: string | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
  return { pid: child.pid!, comm: tail.comm };
}

describe('oom sensor', () => {
  it('announces its one program and the oom_kill record type', () => {
    expect(helper.control[0]).toMatchObject({
      kind: 'hello',
      message: { sensors: [{ id: 0, name: 'oom', programs: ['oom_victim', 'oom_victim_fentry', 'oom_victim_kprobe'], record_types: [RecordType.oom_kill], routes: ['tp_btf', 'fentry', 'kprobe'] }] },
    });
  });

  it('records the victim of a memory cgroup OOM with its memcg, limit and memory', async () => {
    const cg = createMemoryCgroup(`bpfwasm-oom-${process.pid}-${Date.now()}`, LIMIT);
    cgroups.push(cg);
    const { pid, comm } = await oomInCgroup(cg, 321);

    const rec = await helper.waitFor('oom_kill record', () => records().find((r) => r.readUInt32LE(OomKillOffset.victim_tgid) === pid));
    expect({
      type: rec.readUInt16LE(HeaderOffset.type),
      size: rec.readUInt16LE(HeaderOffset.size),
      victimPid: rec.readUInt32LE(OomKillOffset.victim_pid),
      victimComm: cstr(rec, OomKillOffset.victim_comm),
      // It fails its own allocation, so it is the trigger too.
      triggerTgid: rec.readUInt32LE(HeaderOffset.tgid),
      triggerComm: cstr(rec, HeaderOffset.comm),
      victimCgroupId: rec.readBigUInt64LE(OomKillOffset.victim_cgroup_id),
      memcgId: rec.readBigUInt64LE(OomKillOffset.memcg_id),
      limitPages: rec.readBigUInt64LE(OomKillOffset.limit_pages),
      oomScoreAdj: rec.readInt32LE(OomKillOffset.oom_score_adj),
      pad: rec.readUInt32LE(OomKillOffset.oom_score_adj + 4), // the trailing padding is zeroed
    }).toEqual({
      type: RecordType.oom_kill, size: RECORD_SIZE[RecordType.oom_kill], victimPid: pid, victimComm: comm,
      triggerTgid: pid, triggerComm: comm, victimCgroupId: ownCgroupV2Id(), memcgId: cg.id,
      limitPages: BigInt(LIMIT / PAGE), oomScoreAdj: 321, pad: 0,
    });
    // Nothing but the victim's buffers counts against the limit, so its rss is most of it.
    const rss = rec.readBigUInt64LE(OomKillOffset.rss_pages);
    expect(rss).toBeGreaterThan(BigInt(LIMIT / PAGE / 2));
    expect(rss).toBeLessThanOrEqual(BigInt(LIMIT / PAGE) + 512n); // file pages of the binary and libc are shared, not charged
    expect(rec.readBigUInt64LE(OomKillOffset.total_vm_pages)).toBeGreaterThanOrEqual(rss);

    // The kernel counted exactly one kill in that cgroup, and so did the sensor.
    const events = readFileSync(join(cg.dir, cg.version === 2 ? 'memory.events' : 'memory.oom_control'), 'utf8');
    expect(events).toMatch(/^oom_kill 1$/m);
    expect(records().filter((r) => r.readBigUInt64LE(OomKillOffset.memcg_id) === cg.id)).toHaveLength(1);
  });

  it('reports no ring drops and counts its program runs', async () => {
    const seen = helper.statsFrames.length;
    await helper.waitFor('a STATS frame after the kill', () => helper.statsFrames.length > seen);
    const last = helper.statsFrames.at(-1)!.stats;
    expect(last.filter((s) => s.kind === Stat.RING_DROPS).reduce((a, s) => a + s.value, 0)).toBe(0);
    const runs = last.filter((s) => s.kind === Stat.PROG_RUN_COUNT && s.sensor === 0);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.value).toBeGreaterThanOrEqual(1);
    expect(helper.errors).toEqual([]);
  });
});
