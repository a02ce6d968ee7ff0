// The example user exporter exporters/examples/short-lived on synthetic batches: the fork/exit
// join, the threshold, threads, exits that overtake their fork, and the bounded table.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildExporter, loadForTest, RecordType, type LoadedForTest, type RecordValues } from '../../src/testing/index.js';
import { ROOT } from '../../scripts/build-exporters.mjs';
import { freshTmpDir } from './helpers.js';

const METRIC = 'bpfwasm_example_short_lived_processes_total';
const MS = 1_000_000;
let wasm: Uint8Array;

beforeAll(async () => {
  wasm = readFileSync(await buildExporter(join(ROOT, 'exporters', 'examples', 'short-lived'), join(freshTmpDir('short-lived'), 'short-lived.wasm')));
});

const fork = (parent: string, parentTgid: number, child: number, thread = false): RecordValues =>
  ({ comm: parent, tgid: parentTgid, pid: parentTgid, child_pid: child, child_tgid: thread ? parentTgid : child });
const exit = (tgid: number, lifetimeMs: number, comm = 'child'): RecordValues =>
  ({ comm, tgid, pid: tgid, lifetime_ns: Math.round(lifetimeMs * MS) });

const count = (t: LoadedForTest, parent: string) => t.value(METRIC, { parent_comm: parent });

describe('short-lived example exporter', () => {
  it('counts exits under 10 ms by the comm of the parent that forked them', async () => {
    const t = await loadForTest('short-lived', wasm);
    await t.feed(RecordType.process_fork, [fork('make', 100, 101), fork('make', 100, 102), fork('bash', 200, 201), fork('make', 100, 103)]);
    await t.feed(RecordType.process_exit, [exit(101, 2), exit(102, 9.999), exit(201, 0.3), exit(103, 10)]);
    expect(count(t, 'make')).toBe(2); // 103 lived exactly 10 ms: not under
    expect(count(t, 'bash')).toBe(1);
    expect(count(t, 'unknown')).toBe(0);
    expect(t.exporter.errors + t.exporter.traps + t.exporter.rejectedOps + t.exporter.rejectedCalls).toBe(0);
    expect(t.logs).toEqual([{ level: 1, msg: '{"event":"short_lived_started","threshold_ns":10000000}', fields: { event: 'short_lived_started', threshold_ns: 10000000 } }]);
  });

  it('ignores new threads, and consumes an entry on exit so a reused pid starts over', async () => {
    const t = await loadForTest('short-lived', wasm);
    await t.feed(RecordType.process_fork, [fork('java', 300, 301, true), fork('cron', 400, 401)]);
    await t.feed(RecordType.process_exit, [exit(301, 1), exit(401, 50)]); // 301 was a thread: its fork is no process start
    await t.feed(RecordType.process_fork, [fork('init', 1, 402)]); // settles 301 as unknown
    expect(count(t, 'java')).toBe(0);
    expect(count(t, 'unknown')).toBe(1);
    expect(count(t, 'cron')).toBe(0); // lived 50 ms
    // 401 again (pid reuse) without a new fork: the old entry is gone, so its parent is unknown.
    await t.feed(RecordType.process_exit, [exit(401, 1)]);
    await t.feed(RecordType.process_fork, [fork('sshd', 500, 501)]);
    expect(count(t, 'cron')).toBe(0);
    expect(count(t, 'unknown')).toBe(2);
  });

  it('matches an exit that arrives before its fork, once the next fork batch comes', async () => {
    const t = await loadForTest('short-lived', wasm);
    await t.feed(RecordType.process_exit, [exit(601, 1), exit(602, 3), exit(603, 20)]);
    expect(count(t, 'nginx')).toBe(0);
    await t.feed(RecordType.process_fork, [fork('nginx', 600, 601), fork('nginx', 600, 602), fork('nginx', 600, 603)]);
    expect(count(t, 'nginx')).toBe(2); // 603 lived 20 ms
    expect(count(t, 'unknown')).toBe(0);
    expect(t.exporter.rejectedOps).toBe(0);
  });

  it('keeps a bounded table: 100k forks in, still exact for recent ones, memory steady', async () => {
    const t = await loadForTest('short-lived', wasm);
    const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => fork('spawner', 2, from + i));
    await t.feed(RecordType.process_fork, batch(10_000, 1000));
    const memory = t.exporter.memoryBytes;
    for (let b = 1; b < 100; b++) await t.feed(RecordType.process_fork, batch(10_000 + b * 1000, 1000));
    expect(t.exporter.memoryBytes).toBe(memory);
    // The last 8192 forks are still known; older entries were replaced by newer pids.
    const recent = Array.from({ length: 500 }, (_, i) => exit(109_999 - i, 1));
    await t.feed(RecordType.process_exit, recent);
    expect(count(t, 'spawner')).toBe(500);
    await t.feed(RecordType.process_exit, [exit(10_000, 1)]); // its slot now holds pid 10_000 + 8192·k
    await t.feed(RecordType.process_fork, [fork('x', 3, 4)]);
    expect(count(t, 'unknown')).toBe(1);
  });

  it('takes its threshold from exporters.settings, and refuses a bad one at load', async () => {
    const t = await loadForTest('short-lived', wasm, { settings: { thresholdMs: '50' } });
    await t.feed(RecordType.process_fork, [fork('make', 100, 101), fork('make', 100, 102)]);
    await t.feed(RecordType.process_exit, [exit(101, 20), exit(102, 60)]);
    expect(count(t, 'make')).toBe(1);
    await expect(loadForTest('short-lived', wasm, { settings: { thresholdMs: 'soon' } }))
      .rejects.toThrow(/short-lived: .*thresholdMs must be a number of milliseconds/);
  });
});
