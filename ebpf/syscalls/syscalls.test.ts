// Loads the syscalls sensor into the running kernel through the real helper, drives a
// known mix of syscalls from a small static C program, and checks the aggregate records
// exactly. Needs root (CAP_BPF + CAP_PERFMON) and a C compiler; a helper that cannot be
// built or loaded fails these tests, it never skips them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { StatKind } from '../../src/ingest/protocol.js';
import { HelperRun, buildHelper, type EventRecord } from '../../test/support/helper-run.js';

const CGROUP2 = '/sys/fs/cgroup/unified';

// x86_64 syscall numbers and errno values the driver produces.
const NR = { read: 0, close: 3, nanosleep: 35, execve: 59, exit: 60, getppid: 110, clock_nanosleep: 230, exit_group: 231, epoll_wait: 232, openat: 257, epoll_pwait: 281 };
const ENOENT = 2;
const EBADF = 9;

// Static, so no dynamic loader adds openat/close calls of its own. It waits for one byte
// on stdin (the gate), makes the calls its arguments ask for, then a second thread execs
// the program again ("phase2"), which reports and blocks in read until stdin sends a byte.
const DRIVER_C = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char **args;

static void *exec_from_thread(void *unused)
{
	char *argv[] = { args[0], "phase2", NULL };
	dprintf(1, "tid %ld\n", (long)syscall(SYS_gettid));
	execv(args[0], argv);
	_exit(97);
}

int main(int argc, char **argv)
{
	char c;
	if (argc == 2 && !strcmp(argv[1], "phase2")) {
		dprintf(1, "ready\n");
		return read(0, &c, 1) == 1 ? 0 : 98;
	}
	if (argc != 6 || read(0, &c, 1) != 1)
		return 99;
	int sleeps = atoi(argv[1]), ms = atoi(argv[2]), opens = atoi(argv[3]), closes = atoi(argv[4]), ppids = atoi(argv[5]);
	struct timespec ts = { 0, ms * 1000000L };
	for (int i = 0; i < sleeps; i++)
		syscall(SYS_nanosleep, &ts, NULL);
	for (int i = 0; i < sleeps; i++)
		nanosleep(&ts, NULL); /* glibc issues clock_nanosleep */
	for (int i = 0; i < opens; i++)
		if (openat(AT_FDCWD, "/nonexistent-bpfwasm/missing", O_RDONLY) >= 0)
			return 96;
	for (int i = 0; i < closes; i++)
		close(-1);
	for (int i = 0; i < ppids; i++)
		syscall(SYS_getppid);
	args = argv;
	pthread_t t;
	if (pthread_create(&t, NULL, exec_from_thread, NULL))
		return 95;
	pthread_join(t, NULL);
	return 94;
}
`;

// The load every scenario drives.
const LOAD = { sleeps: 25, ms: 2, opens: 37, closes: 23, ppids: 41 };

interface Bucket { count: bigint; sumNs: bigint }

/** The helper with the syscalls sensor; aggregate records summed per key. */
class SyscallsRun extends HelperRun {
  readonly latency = new Map<string, Bucket>(); // `${nr}:${slot}`
  readonly errnos = new Map<string, bigint>(); // `${nr}:${errno}`

  constructor(sets: string[]) {
    const args = ['--sensors', 'syscalls', '--aggregate-ms', '100', '--stats-ms', '200'];
    for (const s of sets) args.push('--set', `syscalls.${s}`);
    super(args, { onRecord: (r) => this.record(r), keepRecords: false });
  }

  /** Map-full inserts in the last STATS frame. */
  get mapFull(): number {
    const last = this.statsFrames.at(-1)?.stats ?? [];
    return last.filter((s) => s.kind === StatKind.MAP_FULL).reduce((a, s) => a + s.value, 0);
  }

  private record(r: EventRecord): void {
    const f = r.fields;
    if (r.type === RecordType.syscall_latency) {
      const key = `${f.nr}:${f.slot}`;
      const b = this.latency.get(key) ?? { count: 0n, sumNs: 0n };
      b.count += f.count as bigint;
      b.sumNs += f.sum_ns as bigint;
      this.latency.set(key, b);
    } else if (r.type === RecordType.syscall_error) {
      const key = `${f.nr}:${f.error}`;
      this.errnos.set(key, (this.errnos.get(key) ?? 0n) + (f.count as bigint));
    }
  }

  /** Closes stdin: the helper sends the last aggregates, a final STATS, and exits 0. */
  async close(): Promise<void> {
    expect((await this.stop('stdin')).code).toBe(0);
    expect(this.stderr).toBe('');
  }

  /** Latency records of one syscall: slot → bucket. */
  slots(nr: number): Map<number, Bucket> {
    const out = new Map<number, Bucket>();
    for (const [key, b] of this.latency) {
      const [n, slot] = key.split(':').map(Number);
      if (n === nr) out.set(slot!, b);
    }
    return out;
  }

  calls(nr: number): bigint {
    return [...this.slots(nr).values()].reduce((a, b) => a + b.count, 0n);
  }

  errorsOf(nr: number): Map<number, bigint> {
    const out = new Map<number, bigint>();
    for (const [key, n] of this.errnos) {
      const [k, err] = key.split(':').map(Number);
      if (k === nr) out.set(err!, n);
    }
    return out;
  }
}

async function waitFor(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The driver, started gated: it makes no call of its load before release(). */
class Driver {
  readonly proc: ChildProcess;
  stdout = '';
  readonly exited: Promise<number | null>;

  constructor(path: string) {
    const l = LOAD;
    this.proc = spawn(path, [l.sleeps, l.ms, l.opens, l.closes, l.ppids].map(String), { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdout!.on('data', (chunk: Buffer) => { this.stdout += chunk.toString('utf8'); });
    this.exited = new Promise((res) => this.proc.on('close', (code) => res(code)));
  }

  get pid(): number { return this.proc.pid!; }

  release(): void { this.proc.stdin!.write('g'); }

  /** Waits until phase 2 blocks in read; returns the tid of the thread that exec'd. */
  async phase2(): Promise<number> {
    await waitFor('driver phase 2', () => this.stdout.includes('ready\n') || this.proc.exitCode !== null, 10_000);
    const tid = /^tid (\d+)$/m.exec(this.stdout);
    if (!tid || !this.stdout.includes('ready\n')) throw new Error(`driver exited ${this.proc.exitCode}: ${this.stdout}`);
    return Number(tid[1]);
  }

  async finish(): Promise<void> {
    this.proc.stdin!.end('x');
    expect(await this.exited).toBe(0);
  }
}

/** The `starts` map (tid → {ts, nr}) of the loaded sensor whose filter_comm is `comm`. */
function startsOf(comm: string): Map<number, { ts: number; nr: number }> {
  const bpftool = (...args: string[]) => JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  // Other tests may load and unload programs meanwhile: one that vanished is not ours.
  const maybe = <T>(f: () => T): T | undefined => { try { return f(); } catch { return undefined; } };
  const progs = [bpftool('prog', 'show', 'name', 'sys_enter')].flat() as { map_ids: number[] }[];
  for (const prog of progs) {
    const maps = prog.map_ids.map((id) => maybe(() => bpftool('map', 'show', 'id', String(id)) as { id: number; name: string }));
    const rodata = maps.find((m) => m?.name.endsWith('.rodata'));
    const starts = maps.find((m) => m?.name === 'starts');
    if (!rodata || !starts) continue;
    const vars = maybe(() => bpftool('map', 'dump', 'id', String(rodata.id))[0].formatted.value['.rodata'] as Record<string, unknown>[]);
    if (!vars?.some((v) => v.filter_comm === comm)) continue;
    const entries = bpftool('map', 'dump', 'id', String(starts.id)) as { formatted: { key: number; value: { ts: number; nr: number } } }[];
    return new Map(entries.map((e) => [e.formatted.key, e.formatted.value]));
  }
  throw new Error(`no loaded syscalls sensor filters on comm ${comm}`);
}

/** Records the driver's load must produce exactly, whatever filter selected it. */
function expectDriverLoad(h: SyscallsRun): void {
  const l = LOAD;
  const minNs = BigInt(l.ms) * 1_000_000n;
  for (const nr of [NR.nanosleep, NR.clock_nanosleep]) {
    const slots = h.slots(nr);
    expect(h.calls(nr)).toBe(BigInt(l.sleeps));
    for (const [slot, b] of slots) {
      // Every sleep lasted at least 2 ms, so it lies above 2^20 ns (~1.05 ms).
      expect(slot).toBeGreaterThanOrEqual(21);
      // A slot holds (2^(slot-1), 2^slot] ns: the sum agrees with the slot.
      expect(b.sumNs).toBeGreaterThan(b.count * (1n << BigInt(slot - 1)));
      expect(b.sumNs).toBeLessThanOrEqual(b.count * (1n << BigInt(slot)));
      expect(b.sumNs).toBeGreaterThanOrEqual(b.count * minNs);
    }
    expect(h.errorsOf(nr).size).toBe(0);
  }
  expect(h.calls(NR.openat)).toBe(BigInt(l.opens));
  expect(h.errorsOf(NR.openat)).toEqual(new Map([[ENOENT, BigInt(l.opens)]]));
  expect(h.calls(NR.close)).toBe(BigInt(l.closes));
  expect(h.errorsOf(NR.close)).toEqual(new Map([[EBADF, BigInt(l.closes)]]));
  expect(h.calls(NR.getppid)).toBe(BigInt(l.ppids));
  expect(h.errorsOf(NR.getppid).size).toBe(0);
  // The thread's execve returned in the new image under the leader's tid: still measured.
  expect(h.calls(NR.execve)).toBe(1n);
  expect(h.errorsOf(NR.execve).size).toBe(0);
  // exit and exit_group never return, and nothing of this node process got through the filter.
  for (const nr of [NR.exit, NR.exit_group, NR.epoll_wait, NR.epoll_pwait]) expect(h.calls(nr)).toBe(0n);
  expect(h.mapFull).toBe(0);
  expect(h.errors).toEqual([]);
}

let tmp: string;
let driverPath: string;
let comm: string;
let cgroupRoot: string | undefined;

beforeAll(() => {
  // Fails (does not skip) when the build or the toolchain is broken.
  buildHelper();
  tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-syscalls-'));
  comm = `sc${process.pid.toString(36)}${Math.random().toString(36).slice(2, 7)}`.slice(0, 15);
  driverPath = join(tmp, comm);
  writeFileSync(join(tmp, 'driver.c'), DRIVER_C);
  execFileSync('cc', ['-O2', '-static', '-pthread', '-o', driverPath, join(tmp, 'driver.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
}, 60_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (cgroupRoot) {
    for (const dir of [join(cgroupRoot, 'inner'), cgroupRoot]) {
      try { rmdirSync(dir); } catch { /* already gone */ }
    }
  }
});

describe('syscalls sensor', () => {
  it('counts exactly the filtered comm\'s syscalls, with latency slots matching the sleeps and errors by errno', async () => {
    const helper = new SyscallsRun([`filter_comm=${comm}`]);
    try {
      await helper.waitReady();
      const driver = new Driver(driverPath);
      driver.release();
      const oldTid = await driver.phase2();
      expect(oldTid).not.toBe(driver.pid);

      // Phase 2 sits in read: its thread (now the leader) has a start; the exec'ing
      // thread's old tid left nothing behind.
      const during = startsOf(comm);
      expect(during.get(driver.pid)).toMatchObject({ nr: NR.read });
      expect(during.get(driver.pid)!.ts).toBeGreaterThan(0);
      expect(during.has(oldTid)).toBe(false);

      await driver.finish();
      // exit_group: the process is gone and so is its entry.
      expect(startsOf(comm).has(driver.pid)).toBe(false);
      await helper.close();

      expectDriverLoad(helper);
      // The gate read and phase 2's read.
      expect(helper.calls(NR.read)).toBe(2n);
    } finally {
      if (helper.proc.exitCode === null) helper.proc.kill('SIGTERM');
    }
  });

  it('filters by process id', async () => {
    const driver = new Driver(driverPath);
    const helper = new SyscallsRun([`filter_tgid=${driver.pid}`]);
    try {
      await helper.waitReady();
      driver.release();
      await driver.phase2();
      await driver.finish();
      await helper.close();
      expectDriverLoad(helper);
    } finally {
      if (helper.proc.exitCode === null) helper.proc.kill('SIGTERM');
      if (driver.proc.exitCode === null) driver.proc.kill('SIGKILL');
    }
  });

  describe('cgroup filter', () => {
    let outer: number;
    let inner: number;

    beforeAll(() => {
      cgroupRoot = join(CGROUP2, `bpfwasm-sc-${process.pid}-${Date.now().toString(36)}`);
      mkdirSync(join(cgroupRoot, 'inner'), { recursive: true });
      // A cgroup v2 id is the inode number of its directory.
      outer = statSync(cgroupRoot).ino;
      inner = statSync(join(cgroupRoot, 'inner')).ino;
    });

    /** Runs the driver inside the inner cgroup under a helper with these options. */
    async function runInInner(sets: string[]): Promise<SyscallsRun> {
      const driver = new Driver(driverPath);
      const helper = new SyscallsRun(sets);
      try {
        writeFileSync(join(cgroupRoot!, 'inner', 'cgroup.procs'), String(driver.pid));
        await helper.waitReady();
        driver.release();
        await driver.phase2();
        await driver.finish();
        await helper.close();
        return helper;
      } finally {
        if (helper.proc.exitCode === null) helper.proc.kill('SIGTERM');
        if (driver.proc.exitCode === null) driver.proc.kill('SIGKILL');
      }
    }

    it('selects the tasks of exactly that cgroup', async () => {
      expectDriverLoad(await runInInner([`filter_cgroup=${inner}`]));
    });

    it('with a level, selects the whole subtree of the cgroup at that depth', async () => {
      expectDriverLoad(await runInInner([`filter_cgroup=${outer}`, 'filter_cgroup_level=1']));
    });

    it('without a level, does not select a child cgroup\'s tasks', async () => {
      const helper = await runInInner([`filter_cgroup=${outer}`]);
      expect(helper.latency.size).toBe(0);
      expect(helper.errnos.size).toBe(0);
    });
  });
});
