// Acceptance for the syscalls sensor (issue #3): the real collector with the sensor filtered
// on one process's comm, that process making 1,000 sleeps of 2 ms and failing openat calls,
// and the scraped histogram and error counter checked exactly.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  helperPrograms, onlySensors, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector,
} from './support/collector.js';
import { uniqueBinary } from './support/processes.js';

// Static, so the dynamic loader adds no openat of its own: every failing openat is ours.
const LOAD_C = `
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 4)
		return 99;
	int sleeps = atoi(argv[1]), ms = atoi(argv[2]), opens = atoi(argv[3]);
	struct timespec ts = { 0, ms * 1000000L };
	for (int i = 0; i < sleeps; i++)
		if (nanosleep(&ts, NULL)) /* glibc issues clock_nanosleep */
			return 98;
	for (int i = 0; i < opens; i++)
		if (openat(AT_FDCWD, "/nonexistent-bpfwasm/missing", O_RDONLY) >= 0)
			return 97;
	return 0;
}
`;

const SLEEPS = 1000;
const OPENS = 137;

const PROGRAMS = ['exec_moved', 'sys_enter', 'sys_exit', 'thread_exit'];

function run(path: string, args: string[]): Promise<number | null> {
  const child = spawn(path, args, { stdio: 'ignore' });
  return new Promise((res) => child.on('close', (code) => res(code)));
}

describe('syscalls sensor end to end', () => {
  let tmp: string;
  let load: { path: string; comm: string };
  let c: RunningCollector;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-sc-it-'));
    writeFileSync(join(tmp, 'load.c'), LOAD_C);
    const cc = existsSync('/usr/bin/cc') ? 'cc' : 'clang';
    execFileSync(cc, ['-O2', '-static', '-o', join(tmp, 'load'), join(tmp, 'load.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    load = uniqueBinary(join(tmp, 'load'), 'scl');
    c = await startCollector({ sensors: onlySensors({ syscalls: { comm: load.comm } }) });
    await waitReady(c);
  }, 60_000);

  afterAll(async () => {
    if (c) expect(await c.stop()).toBe(0);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('puts 1,000 sleeps of 2 ms above 1 ms and counts every failing openat as ENOENT', async () => {
    expect(await run(load.path, [String(SLEEPS), '2', String(OPENS)])).toBe(0);

    const sleep = 'syscall="clock_nanosleep"';
    const openat = 'syscall="openat",errno="ENOENT"';
    const m = await waitFor('the load on /metrics', async () => {
      const s = await scrape(c);
      const sleeps = samples(s, 'bpfwasm_syscall_latency_seconds_count').get(sleep) ?? 0;
      const errors = samples(s, 'bpfwasm_syscall_errors_total').get(openat) ?? 0;
      if (sleeps >= SLEEPS && errors >= OPENS) return s;
      // The reason waitFor reports if it times out.
      throw new Error(`${sleep} count ${sleeps}, ${openat} ${errors}; error series: ${[...samples(s, 'bpfwasm_syscall_errors_total').keys()].join(' ')}`);
    });

    // Exactly the calls the process made: the filter let nothing else in, nothing was lost.
    expect(samples(m, 'bpfwasm_syscall_latency_seconds_count').get(sleep)).toBe(SLEEPS);
    expect(samples(m, 'bpfwasm_syscall_errors_total').get(openat)).toBe(OPENS);
    expect(samples(m, 'bpfwasm_syscall_latency_seconds_count').get('syscall="openat"')).toBe(OPENS);

    // No 2 ms sleep in a bucket at or under 1 ms; all of them by +Inf.
    const buckets = [...samples(m, 'bpfwasm_syscall_latency_seconds_bucket')]
      .filter(([labels]) => labels.startsWith(`${sleep},`))
      .map(([labels, v]) => {
        const le = /le="([^"]+)"/.exec(labels)![1]!;
        return { le: le === '+Inf' ? Infinity : Number(le), v };
      });
    expect(buckets.length).toBe(26); // 2^10 … 2^34 ns, and +Inf
    const atMost1ms = buckets.filter((b) => b.le <= 0.001);
    expect(atMost1ms.length).toBe(10);
    for (const b of atMost1ms) expect(b.v).toBe(0);
    expect(buckets.find((b) => b.le === Infinity)!.v).toBe(SLEEPS);
    const sum = samples(m, 'bpfwasm_syscall_latency_seconds_sum').get(sleep)!;
    expect(sum).toBeGreaterThanOrEqual(SLEEPS * 0.002);

    // Only this comm is traced: the collector's own syscalls (epoll, writes) are not here.
    const names = [...samples(m, 'bpfwasm_syscall_latency_seconds_count').keys()];
    expect(names.some((l) => /epoll/.test(l))).toBe(false);
  });

  it('loads exactly the sensor\'s four programs', () => {
    expect(helperPrograms(c)).toEqual(PROGRAMS);
  });
});

describe('syscalls sensor disabled', () => {
  it('is disabled by default, and then none of its programs is loaded', async () => {
    const c = await startCollector();
    try {
      await waitReady(c);
      const names = helperPrograms(c);
      expect(names.length).toBeGreaterThan(0); // the default process sensor
      for (const p of PROGRAMS) expect(names).not.toContain(p);
      const m = await scrape(c);
      expect(samples(m, 'bpfwasm_sensor_attached').has('sensor="syscalls"')).toBe(false);
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });
});
