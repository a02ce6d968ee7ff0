// Loads the process sensor into the running kernel through the real helper and checks
// the records it streams. Needs root (CAP_BPF + CAP_PERFMON); a helper that cannot be
// built or loaded fails these tests, it never skips them.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessExecOffset, ProcessExitOffset, ProcessForkOffset, RecordType } from '../../src/ingest/generated/events.js';
import { argsLine, execArgs, EXEC_ARGS_LOST } from '../../src/ingest/exec-args.js';
import { FrameKind as Kind, StatKind as Stat } from '../../src/ingest/protocol.js';
import { HelperRun, buildHelper, type EventRecord as Rec, type Exit } from '../../test/support/helper-run.js';

function u32(r: Rec, offset: number): number {
  return r.buf.readUInt32LE(offset);
}

function execOf(r: Rec) {
  const view = new DataView(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength);
  return {
    filename: r.fields.filename as string,
    uid: u32(r, ProcessExecOffset.uid),
    argc: u32(r, ProcessExecOffset.argc),
    argsCount: u32(r, ProcessExecOffset.args_count),
    flags: u32(r, ProcessExecOffset.flags),
    ...execArgs(r.buf, view, 0),
  };
}

/** Run a uniquely named copy of /bin/sh so its comm identifies it in the record stream. */
function runShCopy(dir: string, name: string, script: string): { child: ChildProcess; exited: Promise<Exit> } {
  const path = join(dir, name);
  copyFileSync('/bin/sh', path);
  const child = spawn(path, ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise<Exit>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return { child, exited };
}

let tmp: string;
let helper: HelperRun;
let ready: any;
let nameSeq = 0;
// Unique per run and at most 15 characters, so it survives comm truncation.
const uniqueName = () => `bw${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}${nameSeq++}`.slice(0, 15);

beforeAll(async () => {
  // Fails (does not skip) when the build or the toolchain is broken.
  buildHelper();
  tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-process-'));
  helper = new HelperRun(['--sensors', 'process', '--poll-ms', '5', '--stats-ms', '200'], { timeoutMs: 5000 });
  ready = await helper.waitReady();
});

afterAll(async () => {
  if (helper && helper.proc.exitCode === null) await helper.stop('SIGTERM');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('process sensor', () => {
  it('announces its programs and record types, then READY with timings', () => {
    const hello = helper.control[0];
    expect(helper.kinds[0]).toBe(Kind.HELLO);
    expect(hello?.kind).toBe('hello');
    expect(hello?.message).toMatchObject({
      protocol: 1,
      pid: helper.proc.pid,
      sensors: [{
        id: 0, name: 'process', programs: ['handle_fork', 'handle_exec', 'handle_exit'],
        record_types: [RecordType.process_fork, RecordType.process_exec, RecordType.process_exit], routes: [],
      }],
    });
    expect(ready.sensors).toEqual(['process']);
    expect(ready.load_ms).toBeGreaterThan(0);
    expect(ready.attach_ms).toBeGreaterThan(0);
  });

  it('records fork, exec and exit of a process that exits with status 7', async () => {
    const name = uniqueName();
    const started = process.hrtime.bigint();
    const { child, exited } = runShCopy(tmp, name, 'sleep 0.05; exit 7');
    const pid = child.pid!;
    expect((await exited).code).toBe(7);
    const elapsedNs = process.hrtime.bigint() - started;

    const find = (type: number) => () => helper.records.find((r) => r.type === type && r.tgid === pid && r.comm === name);
    const exec = await helper.waitFor('process_exec', find(RecordType.process_exec));
    const exit = await helper.waitFor('process_exit', find(RecordType.process_exit));
    const fork = await helper.waitFor('process_fork', () => helper.records.find(
      (r) => r.type === RecordType.process_fork && u32(r, ProcessForkOffset.child_tgid) === pid));

    expect(exec.pid).toBe(pid);
    expect(u32(exec, ProcessExecOffset.ppid)).toBe(process.pid);
    expect(execOf(exec)).toMatchObject({
      filename: join(tmp, name), uid: process.getuid!(), argc: 3, argsCount: 3, flags: 0,
      args: [join(tmp, name), '-c', 'sleep 0.05; exit 7'], lost: 0,
    });

    expect(exit.pid).toBe(pid);
    expect(u32(exit, ProcessExitOffset.ppid)).toBe(process.pid);
    expect(u32(exit, ProcessExitOffset.exit_code)).toBe(7);
    expect(u32(exit, ProcessExitOffset.exit_signal)).toBe(0);
    const lifetime = exit.buf.readBigUInt64LE(ProcessExitOffset.lifetime_ns);
    expect(lifetime).toBeGreaterThanOrEqual(50_000_000n); // the script sleeps 50 ms
    expect(lifetime).toBeLessThanOrEqual(elapsedNs);
    expect(exit.timestampNs).toBeGreaterThan(exec.timestampNs);

    // The parent (this node process) forked it: the header describes the parent.
    expect(fork.tgid).toBe(process.pid);
    expect(u32(fork, ProcessForkOffset.child_pid)).toBe(pid);
    expect(fork.timestampNs).toBeLessThan(exec.timestampNs);
  });

  it('keeps the first 20 of 40 arguments and marks the lost tail', async () => {
    const name = uniqueName();
    const path = join(tmp, name);
    copyFileSync('/bin/true', path);
    const argv = Array.from({ length: 39 }, (_, i) => `arg${i + 1}`);
    const child = spawn(path, argv, { stdio: 'ignore' });
    await new Promise((res) => child.on('close', res));
    const exec = execOf(await helper.waitFor('process_exec with 40 arguments', () => helper.records.find(
      (r) => r.type === RecordType.process_exec && r.tgid === child.pid && r.comm === name)));
    expect(exec).toMatchObject({ filename: path, argc: 40, argsCount: 20, flags: EXEC_ARGS_LOST, lost: 20 });
    expect(exec.args).toEqual([path, ...argv.slice(0, 19)]);
    expect(argsLine(exec)).toBe(`${path} ${argv.slice(0, 19).join(' ')} …`);
  });

  it('cuts an argument the 256-byte field cannot hold and marks it', async () => {
    const name = uniqueName();
    const path = join(tmp, name);
    copyFileSync('/bin/true', path);
    const long = 'x'.repeat(400);
    const child = spawn(path, ['short', long, 'after'], { stdio: 'ignore' });
    await new Promise((res) => child.on('close', res));
    const exec = execOf(await helper.waitFor('process_exec with a long argument', () => helper.records.find(
      (r) => r.type === RecordType.process_exec && r.tgid === child.pid && r.comm === name)));
    const room = 256 - (path.length + 1) - 'short'.length - 1;
    expect(exec).toMatchObject({ argc: 4, argsCount: 2, flags: EXEC_ARGS_LOST, lost: 2 });
    expect(exec.args).toEqual([path, 'short', `${'x'.repeat(room)}…`]);
  });

  it('reports the signal of a process killed by SIGKILL', async () => {
    const name = uniqueName();
    const { child, exited } = runShCopy(tmp, name, 'read line');
    const pid = child.pid!;
    await helper.waitFor('process_exec of the victim', () => helper.records.find(
      (r) => r.type === RecordType.process_exec && r.tgid === pid && r.comm === name));
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');

    const exit = await helper.waitFor('process_exit', () => helper.records.find(
      (r) => r.type === RecordType.process_exit && r.tgid === pid));
    expect(u32(exit, ProcessExitOffset.exit_signal)).toBe(9);
    expect(u32(exit, ProcessExitOffset.exit_code)).toBe(0);
    expect(exit.comm).toBe(name);
  });

  it('sends STATS whose counters match the records streamed, with no drops', async () => {
    const seen = helper.statsFrames.length;
    await helper.waitFor('two more STATS frames', () => helper.statsFrames.length >= seen + 2);
    expect(helper.errors).toEqual([]);

    for (const { stats, receivedBefore } of helper.statsFrames) {
      for (const type of [RecordType.process_fork, RecordType.process_exec, RecordType.process_exit]) {
        const written = stats.filter((s) => s.kind === Stat.RECORDS_WRITTEN && s.index === type);
        expect(written).toHaveLength(1);
        expect(written[0]!.sensor).toBe(0xffff);
        expect(Number(written[0]!.value)).toBe(receivedBefore.get(type) ?? 0);
      }
      const sum = (kind: number) => stats.filter((s) => s.kind === kind).reduce((a, s) => a + s.value, 0);
      expect(sum(Stat.RING_DROPS)).toBe(0);
      const totalReceived = [...receivedBefore.values()].reduce((a, n) => a + n, 0);
      expect(sum(Stat.RING_SUBMITTED)).toBeGreaterThanOrEqual(totalReceived);
    }

    // Run as root, so BPF_ENABLE_STATS is on: every program reports runs.
    const last = helper.statsFrames.at(-1)!.stats;
    const runs = last.filter((s) => s.kind === Stat.PROG_RUN_COUNT && s.sensor === 0);
    expect(runs.map((s) => s.index).sort()).toEqual([0, 1, 2]);
    for (const r of runs) expect(r.value).toBeGreaterThan(0);
    expect(last.filter((s) => s.kind === Stat.PROG_RUN_TIME_NS && s.sensor === 0)).toHaveLength(3);
  });
});

describe('process sensor with --set process.max_args', () => {
  for (const [maxArgs, kept] of [[3, 3], [0, 0]] as const) {
    it(`keeps ${kept} arguments with max_args=${maxArgs}, the rest of the field zero`, async () => {
      const run = new HelperRun(['--sensors', 'process', '--poll-ms', '5', '--set', `process.max_args=${maxArgs}`], { timeoutMs: 5000 });
      try {
        await run.waitReady();
        const name = uniqueName();
        const path = join(tmp, name);
        copyFileSync('/bin/true', path);
        const child = spawn(path, ['one', 'two', 'three', 'four'], { stdio: 'ignore' });
        await new Promise((res) => child.on('close', res));
        const rec = await run.waitFor('process_exec', () => run.records.find(
          (r) => r.type === RecordType.process_exec && r.tgid === child.pid && r.comm === name));
        const exec = execOf(rec);
        expect(exec).toMatchObject({ argc: 5, argsCount: kept, flags: EXEC_ARGS_LOST, lost: 5 - kept });
        expect(exec.args).toEqual([path, 'one', 'two'].slice(0, kept));
        const used = u32(rec, ProcessExecOffset.args_size);
        expect(rec.buf.subarray(ProcessExecOffset.args + used, ProcessExecOffset.args + 256).every((b) => b === 0)).toBe(true);
      } finally {
        await run.stop('SIGTERM');
      }
    });
  }
});

describe('helper lifecycle', () => {
  for (const how of ['stdin', 'SIGTERM'] as const) {
    it(`exits 0 with a final STATS frame when stopped by ${how === 'stdin' ? 'closing stdin' : 'SIGTERM'}`, async () => {
      const run = new HelperRun(['--sensors', 'process', '--poll-ms', '5', '--stats-ms', '60000'], { timeoutMs: 5000 });
      await run.waitReady();
      const exit = await run.stop(how);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(run.stderr).toBe('');
      expect(run.errors).toEqual([]);
      expect(run.kinds.slice(0, 2)).toEqual([Kind.HELLO, Kind.READY]);
      expect(run.kinds.at(-1)).toBe(Kind.STATS);
    });
  }

  it('rejects an unknown sensor with exit code 1 and one stderr line', async () => {
    const run = new HelperRun(['--sensors', 'nosuch']);
    const exit = await run.exited;
    expect(exit.code).toBe(1);
    expect(run.stderr).toMatch(/^bpfwasm-helper: unknown sensor 'nosuch' in --sensors; known sensors: [a-z,]+\n$/);
    expect(run.stderr.trim().split(': ').at(-1)!.split(',')).toContain('process');
    expect(run.kinds).toEqual([]);
  });

  // Missing privileges (exit 3) are covered unconditionally in test/integration/helper-lifecycle.test.ts.
});
