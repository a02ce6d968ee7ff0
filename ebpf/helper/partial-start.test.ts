// Partial start (PROTOCOL.md): a sensor the kernel refuses is left off and reported, and the
// others load, attach and count exactly as alone. The refusal is real: --test-unloadable
// makes the sensor's first program sleepable, which the verifier rejects for tp_btf.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { FrameKind as Kind, StatKind as Stat } from '../../src/ingest/protocol.js';
import { HELPER, HelperRun, buildHelper } from '../../test/support/helper-run.js';

// Whichever of its programs the kernel sees first (the sensor's own files may reorder them).
const VERIFIER_REFUSAL = /^prog '\w+': Only fentry\/fexit\/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable$/;
const TCP_TYPES = [RecordType.tcp_open, RecordType.tcp_close, RecordType.tcp_retransmit];
const PROCESS_TYPES = [RecordType.process_fork, RecordType.process_exec, RecordType.process_exit];

/** One loopback TCP connection, opened and closed: what the tcp sensor would record. */
async function loopbackConnection(): Promise<void> {
  const server = createServer((s) => s.end('x'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve, reject) => {
    const c = createConnection(port, '127.0.0.1');
    c.on('data', () => c.end());
    c.on('close', () => resolve());
    c.on('error', reject);
  });
  await new Promise<void>((r) => server.close(() => r()));
}

let tmp: string;
beforeAll(() => {
  buildHelper();
  tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-partial-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('partial start', () => {
  it('leaves a refused sensor off, says why in LOG, READY and stderr, and the others count exactly', async () => {
    // tcp first, so the attached sensors' ids (1, 2) differ from their places among the attached (0, 1).
    const run = new HelperRun(['--sensors', 'tcp,process,runqlat', '--test-unloadable', 'tcp', '--poll-ms', '5', '--stats-ms', '100']);
    try {
      const ready = await run.waitReady();
      expect(run.hello.sensors.map((s: { id: number; name: string }) => [s.id, s.name])).toEqual([[0, 'tcp'], [1, 'process'], [2, 'runqlat']]);
      expect(ready.sensors).toEqual(['process', 'runqlat']);
      expect(ready.failed).toHaveLength(1);
      expect(ready.failed[0]).toMatchObject({ name: 'tcp', step: 'load', errno: 22, error: expect.stringMatching(VERIFIER_REFUSAL) });
      const reason = ready.failed[0].error as string;
      // Routes are those of attached sensors only (each adapter says its own, or nothing).
      expect(Object.keys(ready.routes).filter((s) => !ready.sensors.includes(s))).toEqual([]);
      // The LOG comes before READY: the collector has the reason when it learns the sensor is off.
      expect(run.kinds.slice(0, 3)).toEqual([Kind.HELLO, Kind.LOG, Kind.READY]);
      expect(run.control[1]).toEqual({ kind: 'log', message: { level: 'warn', msg: `sensor tcp off: load: ${reason}` } });
      expect(run.stderr).toContain('-- BEGIN PROG LOAD LOG --'); // libbpf's whole output, for whoever debugs it
      expect(run.stderr).toContain(`bpfwasm-helper: sensor 'tcp' off: load: ${reason}\n`);

      // 25 execs of a uniquely named binary: exactly 25 exec and 25 exit records.
      const name = `pstart${process.pid.toString(36)}`.slice(0, 15);
      copyFileSync('/bin/true', join(tmp, name));
      const pids = new Set<number>();
      for (let i = 0; i < 25; i++) {
        const r = spawnSync(join(tmp, name));
        expect(r.status).toBe(0);
        pids.add(r.pid!);
      }
      await loopbackConnection();
      const mine = (type: number) => run.records.filter((r) => r.type === type && r.comm === name && pids.has(r.tgid));
      await run.waitFor('25 exits', () => mine(RecordType.process_exit).length >= 25);
      expect(await run.stop()).toEqual({ code: 0, signal: null });
      expect(mine(RecordType.process_exec)).toHaveLength(25);
      expect(mine(RecordType.process_exit)).toHaveLength(25);
      for (const t of TCP_TYPES) expect(run.received.get(t) ?? 0).toBe(0);
      expect(run.errors).toEqual([]);

      // STATS cover the attached sensors under their HELLO ids, and nothing of tcp.
      const last = run.statsFrames.at(-1)!.stats;
      expect(new Set(last.filter((s) => s.sensor !== 0xffff).map((s) => s.sensor))).toEqual(new Set([1, 2]));
      const sum = (kind: number, sensor: number) => last.filter((s) => s.kind === kind && s.sensor === sensor).reduce((a, s) => a + s.value, 0);
      const processRecords = PROCESS_TYPES.reduce((a, t) => a + (run.received.get(t) ?? 0), 0);
      expect(sum(Stat.RING_DROPS, 1)).toBe(0);
      expect(sum(Stat.RING_SUBMITTED, 1)).toBe(processRecords);
      for (const t of TCP_TYPES) expect(last.find((s) => s.kind === Stat.RECORDS_WRITTEN && s.index === t)).toBeUndefined();
      // runqlat (id 2) aggregates: its records arrived and its programs ran.
      expect(run.received.get(RecordType.runqlat) ?? 0).toBeGreaterThan(0);
      expect(sum(Stat.PROG_RUN_COUNT, 2)).toBeGreaterThan(0);
    } finally {
      await run.stop();
    }
  });

  it('a sensor named by --require stops the helper: exit 4, no READY, the reason last on stderr', async () => {
    const run = new HelperRun(['--sensors', 'process,tcp', '--require', 'tcp', '--test-unloadable', 'tcp']);
    expect(await run.exited).toEqual({ code: 4, signal: null });
    expect(run.ready).toBeUndefined();
    const last = run.stderr.trim().split('\n').at(-1)!;
    expect(last.startsWith("bpfwasm-helper: required sensor 'tcp' failed to load: ")).toBe(true);
    expect(last.slice("bpfwasm-helper: required sensor 'tcp' failed to load: ".length)).toMatch(VERIFIER_REFUSAL);
  });

  it('with every sensor off, READY says so and the helper keeps running until stopped', async () => {
    const run = new HelperRun(['--sensors', 'tcp', '--test-unloadable', 'tcp', '--stats-ms', '50']);
    try {
      const ready = await run.waitReady();
      expect(ready).toMatchObject({ sensors: [], failed: [{ name: 'tcp', step: 'load', errno: 22, error: expect.stringMatching(VERIFIER_REFUSAL) }] });
      await run.waitFor('three STATS frames', () => run.statsFrames.length >= 3);
      expect(run.proc.exitCode).toBeNull();
      expect(await run.stop()).toEqual({ code: 0, signal: null });
      expect(run.errors).toEqual([]);
    } finally {
      await run.stop();
    }
  });

  it.each([
    [['--sensors', 'process', '--require', 'tcp'], "--require names sensor 'tcp', which --sensors does not load"],
    [['--sensors', 'process', '--require', 'process,process'], "sensor 'process' is listed twice in --require"],
    [['--sensors', 'process', '--require', 'nope'], "unknown sensor 'nope' in --require"],
    [['--sensors', 'process', '--test-unloadable', 'tcp'], "--test-unloadable names sensor 'tcp', which --sensors does not load"],
  ])('%j is a usage error', (args, message) => {
    const r = spawnSync(HELPER, args, { encoding: 'utf8', input: '' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(message);
  });
});
