// The built-in oom exporter fed synthetic oom_kill batches: the kill counter's labels and
// values, and the structured log event of each kill.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, testHost, valueOf, type RecordValues, type TestHost, run, feed, expectClean, loadBuilt } from './helpers.js';

const OOM = RecordType.oom_kill;
const KILLS = 'bpfwasm_oom_kills_total';
const CGROUP_PATH = 4;
const MEMCG_PATH = 6;
const WARN = 2;

beforeAll(async () => {
  await buildAll();
});

const NAMES = {
  [CGROUP_PATH]: {
    '4242': '/system.slice/web.service', '77': '/odd "name"\\x\n',
    // 1001 bytes, 2001 once escaped: past the 1600-byte cap inside the 6-byte \u0001 escapes.
    '88': `/${'é'.repeat(400)}${'\u0001'.repeat(200)}`,
    '99': `/${'😀'.repeat(255)}`, // 1021 bytes of surrogate pairs
  },
  [MEMCG_PATH]: { '9001': '/kubepods/pod-a', '9002': '/kubepods/pod-b' },
};

async function load(host: TestHost = testHost({ names: NAMES })): Promise<{ exporter: Exporter; host: TestHost }> {
  return loadBuilt('oom', host);
}

function kill(over: RecordValues = {}): RecordValues {
  return {
    pid: 500, tgid: 500, comm: 'allocator', victim_pid: 601, victim_tgid: 600, victim_comm: 'java',
    victim_cgroup_id: 4242n, memcg_id: 9001n, rss_pages: 8190n, total_vm_pages: 9000n, limit_pages: 8192n,
    oom_score_adj: -500, ...over,
  };
}

/** The oom exporter's log events, parsed by the host as structured fields. */
function events(host: TestHost): Record<string, unknown>[] {
  return host.logs.filter((l) => l.exporter === 'oom' && l.fields).map((l) => l.fields!);
}

describe('oom exporter', () => {
  it('subscribes to oom_kill and declares the kill counter', async () => {
    const { exporter, host } = await load();
    expect(exporter.subscriptions).toEqual([OOM]);
    const spec = host.store.families.find((f) => f.spec.name === KILLS)!.spec;
    expect(spec).toMatchObject({ kind: 'counter', labelNames: ['comm', 'memcg'] });
    expect(spec.help).toContain('"/" for a system-wide OOM');
  });

  it('counts kills by victim comm and memory cgroup path', async () => {
    const { exporter, host } = await load();
    await feed(exporter, OOM, [kill(), kill({ victim_pid: 700, victim_tgid: 700 }), kill({ memcg_id: 9002n })]);
    await feed(exporter, OOM, [kill({ victim_comm: 'postgres' }), kill()]);
    expect(valueOf(host.store, KILLS, { comm: 'java', memcg: '/kubepods/pod-a' })).toBe(3);
    expect(valueOf(host.store, KILLS, { comm: 'java', memcg: '/kubepods/pod-b' })).toBe(1);
    expect(valueOf(host.store, KILLS, { comm: 'postgres', memcg: '/kubepods/pod-a' })).toBe(1);
    expect(host.store.seriesOf('oom')).toBe(3);
    expect({ batches: exporter.batches, events: exporter.events }).toEqual({ batches: 2, events: 5 });
    expectClean(exporter);
  });

  it('labels a system-wide OOM memcg="/" and an unresolvable memcg ""', async () => {
    const { exporter, host } = await load();
    await feed(exporter, OOM, [kill({ memcg_id: 0n }), kill({ memcg_id: 31337n })]);
    expect(valueOf(host.store, KILLS, { comm: 'java', memcg: '/' })).toBe(1);
    expect(valueOf(host.store, KILLS, { comm: 'java', memcg: '' })).toBe(1);
    const [global, unknown] = events(host);
    expect(global).toMatchObject({ memcg: '/', memcg_id: 0, limit_pages: 8192 });
    expect(unknown).toMatchObject({ memcg: '', memcg_id: 31337 });
    expectClean(exporter);
  });

  it('logs every kill as a structured warn event with the victim, its cgroup and the trigger', async () => {
    const { exporter, host } = await load();
    await feed(exporter, OOM, [kill(), kill({ victim_tgid: 601, rss_pages: 1n, oom_score_adj: 1000, memcg_id: 9002n })]);
    const lines = host.logs.filter((l) => l.exporter === 'oom');
    expect(lines.map((l) => l.level)).toEqual([WARN, WARN]);
    expect(JSON.parse(lines[0]!.msg)).toEqual({
      event: 'oom_kill', pid: 600, tid: 601, comm: 'java', cgroup: '/system.slice/web.service',
      memcg: '/kubepods/pod-a', memcg_id: 9001, rss_pages: 8190, total_vm_pages: 9000, limit_pages: 8192,
      oom_score_adj: -500, trigger_pid: 500, trigger_comm: 'allocator',
    });
    expect(events(host)[1]).toMatchObject({ pid: 601, rss_pages: 1, oom_score_adj: 1000, memcg: '/kubepods/pod-b' });
    expectClean(exporter);
  });

  it('escapes quotes, backslashes and control bytes in comms and paths (logs), counts a comm with control bytes under ?, keeps 64-bit page counts exact', async () => {
    const { exporter, host } = await load();
    const comm = new Uint8Array([0x61, 0x22, 0x5c, 0x01, 0x62]); // a"\<SOH>b
    await feed(exporter, OOM, [kill({ victim_comm: comm, comm: 'x\ty', victim_cgroup_id: 77n, rss_pages: 2n ** 52n, oom_score_adj: -1000 })]);
    const ev = events(host)[0]!;
    expect(ev).toMatchObject({
      comm: 'a"\\\u0001b', trigger_comm: 'x\ty', cgroup: '/odd "name"\\x\n', rss_pages: 2 ** 52, oom_score_adj: -1000,
    });
    // The control byte is no label text (issue #16): the kill counts under the ASCII fallback.
    expect(valueOf(host.store, KILLS, { comm: 'a"\\?b', memcg: '/kubepods/pod-a' })).toBe(1);
    expect({ errors: exporter.errors, traps: exporter.traps, rejectedOps: exporter.rejectedOps, rejectedCalls: exporter.rejectedCalls })
      .toEqual({ errors: 0, traps: 0, rejectedOps: 0, rejectedCalls: 1 });
    expect(exporter.lastError).toMatch(/^series: bpfwasm_oom_kills_total: label value contains control character U\+0001/);
  });

  it('cuts a very long path at a character boundary and still logs valid JSON', async () => {
    const { exporter, host } = await load();
    await feed(exporter, OOM, [kill({ victim_cgroup_id: 88n }), kill({ victim_cgroup_id: 99n })]);
    const [cut, emoji] = events(host);
    expect(cut!.cgroup).toBe(`/${'é'.repeat(400)}${'\u0001'.repeat(133)}`); // 801 + 133 * 6 = 1599 bytes
    expect(cut).toMatchObject({ trigger_comm: 'allocator', oom_score_adj: -500 });
    expect(emoji!.cgroup).toBe(`/${'😀'.repeat(255)}`);
    expectClean(exporter);
  });

  it('still counts a victim whose comm is not UTF-8, with the odd bytes as "?"', async () => {
    const { exporter, host } = await load();
    await feed(exporter, OOM, [kill({ victim_comm: new Uint8Array([0x6a, 0xff, 0x76, 0x61]) })]);
    expect(valueOf(host.store, KILLS, { comm: 'j?va', memcg: '/kubepods/pod-a' })).toBe(1);
    expect(events(host)[0]!.comm).toBe('j\ufffdva');
    // The refused first attempt is counted, as for every exporter; nothing else failed.
    expect({ errors: exporter.errors, traps: exporter.traps, rejectedOps: exporter.rejectedOps, lastError: exporter.lastError })
      .toEqual({ errors: 0, traps: 0, rejectedOps: 0, lastError: 'series: label value is not UTF-8 (-5)' });
  });

  it('refuses a batch whose length does not match oom_kill records', async () => {
    const { exporter, host } = await load();
    const bytes = encodeBatch(OOM, [kill(), kill()]);
    await run(exporter, OOM, bytes.subarray(0, bytes.length - 8), 2);
    expect(exporter.errors).toBe(1);
    expect(host.store.seriesOf('oom')).toBe(0);
  });
});
