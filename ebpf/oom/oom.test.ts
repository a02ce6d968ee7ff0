// Loads the oom sensor into the running kernel through the real helper, OOM-kills a process
// inside a 32 MiB memory cgroup, and checks the oom_kill record field by field. Needs root;
// a helper that cannot be built or loaded fails these tests, it never skips them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeaderOffset, OomKillOffset, RECORD_SIZE, RecordType } from '../../src/ingest/generated/events.js';
import { createMemoryCgroup, type MemoryCgroup } from '../../test/integration/support/cgroups.js';
import { uniqueBinary } from '../../test/integration/support/processes.js';

const EBPF_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HELPER = join(EBPF_DIR, 'build', 'bpfwasm-helper');
const LIMIT = 32 << 20;
const PAGE = 4096;

const MAGIC = 0x31465742;
const Kind = { HELLO: 1, EVENTS: 2, STATS: 3, READY: 4, LOG: 5 } as const;
const Stat = { RING_DROPS: 1, PROG_RUN_COUNT: 4 } as const;

/** The frames of PROTOCOL.md, reduced to what this test reads. */
class Frames {
  private pending = Buffer.alloc(0);
  errors: string[] = [];
  json: { kind: number; value: any }[] = [];
  records: Buffer[] = [];
  stats: { kind: number; sensor: number; index: number; cpu: number; value: bigint }[][] = [];

  push(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 24) {
      const h = this.pending;
      const length = h.readUInt32LE(8);
      if (h.readUInt32LE(0) !== MAGIC) {
        this.errors.push('bad magic');
        this.pending = Buffer.alloc(0);
        return;
      }
      if (h.length < 24 + length) return;
      const kind = h.readUInt16LE(6);
      const count = h.readUInt32LE(12);
      const type = h.readUInt16LE(16);
      const payload = Buffer.from(h.subarray(24, 24 + length));
      this.pending = h.subarray(24 + length);
      if (kind === Kind.EVENTS) {
        const size = RECORD_SIZE[type]!;
        if (type !== RecordType.oom_kill || payload.length !== count * size) this.errors.push(`unexpected EVENTS type ${type}`);
        for (let o = 0; o < payload.length; o += size) this.records.push(payload.subarray(o, o + size));
      } else if (kind === Kind.STATS) {
        this.stats.push(Array.from({ length: count }, (_, i) => ({
          kind: payload.readUInt16LE(i * 16), sensor: payload.readUInt16LE(i * 16 + 2), index: payload.readUInt16LE(i * 16 + 4),
          cpu: payload.readUInt16LE(i * 16 + 6), value: payload.readBigUInt64LE(i * 16 + 8),
        })));
      } else {
        this.json.push({ kind, value: JSON.parse(payload.toString('utf8')) });
      }
    }
  }
}

function cstr(buf: Buffer, offset: number): string {
  const b = buf.subarray(offset, offset + 16);
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? 16 : nul).toString('latin1');
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; helper stderr: ${stderr}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Inode of our own cgroup v2 directory: the victim's victim_cgroup_id (it inherits it). */
function ownCgroupV2Id(): bigint {
  const mount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' - ')[1]?.startsWith('cgroup2 '));
  if (!mount) throw new Error('no cgroup2 mount');
  const point = mount.split(' ')[4]!;
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
  return BigInt(statSync(join(point, own)).ino);
}

let helper: ChildProcess;
let stderr = '';
const frames = new Frames();
const cgroups: MemoryCgroup[] = [];

beforeAll(async () => {
  execFileSync('make', ['-s', '-C', EBPF_DIR], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (!existsSync(HELPER)) throw new Error(`${HELPER} was not built`);
  helper = spawn(HELPER, ['--sensors', 'oom', '--poll-ms', '5', '--stats-ms', '200'], { stdio: ['pipe', 'pipe', 'pipe'] });
  helper.stdout!.on('data', (c: Buffer) => frames.push(c));
  helper.stderr!.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
  await waitFor('READY', () => frames.json.find((j) => j.kind === Kind.READY));
});

afterAll(async () => {
  if (helper && helper.exitCode === null) {
    const exited = new Promise((r) => helper.once('close', r));
    helper.stdin!.end();
    await exited;
  }
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
    expect(frames.json[0]).toMatchObject({
      kind: Kind.HELLO,
      value: { sensors: [{ id: 0, name: 'oom', programs: ['oom_victim'], record_types: [RecordType.oom_kill] }] },
    });
  });

  it('records the victim of a memory cgroup OOM with its memcg, limit and memory', async () => {
    const cg = createMemoryCgroup(`bpfwasm-oom-${process.pid}-${Date.now()}`, LIMIT);
    cgroups.push(cg);
    const { pid, comm } = await oomInCgroup(cg, 321);

    const rec = await waitFor('oom_kill record', () => frames.records.find((r) => r.readUInt32LE(OomKillOffset.victim_tgid) === pid));
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
    expect(frames.records.filter((r) => r.readBigUInt64LE(OomKillOffset.memcg_id) === cg.id)).toHaveLength(1);
  });

  it('reports no ring drops and counts its program runs', async () => {
    const seen = frames.stats.length;
    await waitFor('a STATS frame after the kill', () => frames.stats.length > seen);
    const last = frames.stats.at(-1)!;
    expect(last.filter((s) => s.kind === Stat.RING_DROPS).reduce((a, s) => a + s.value, 0n)).toBe(0n);
    const runs = last.filter((s) => s.kind === Stat.PROG_RUN_COUNT && s.sensor === 0);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.value).toBeGreaterThanOrEqual(1n);
    expect(frames.errors).toEqual([]);
  });
});
