// Real processes for the kernel tests: binaries under a comm no other process on the host has.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A copy of a system binary under a unique name (comm is at most 15 bytes). */
export function uniqueBinary(source: string, prefix: string): { path: string; comm: string } {
  const comm = `${prefix}${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`.slice(0, 15);
  const path = join(mkdtempSync(join(tmpdir(), 'bpfwasm-bin-')), comm);
  copyFileSync(source, path);
  execFileSync('chmod', ['755', path]);
  return { path, comm };
}

/** Runs `path` `times` times from one shell loop (one fork and exec each). */
export function runTimes(path: string, times: number): void {
  const r = spawnSync('/bin/sh', ['-c', `i=0; while [ $i -lt ${times} ]; do "${path}"; i=$((i+1)); done`]);
  if (r.status !== 0) throw new Error(`running ${path} ${times} times failed: ${r.stderr}`);
}

// Each worker spins on the clock until the same deadline; the process exits when they are done.
const BUSY = `
const { Worker } = require('node:worker_threads');
const [threads, ms] = process.argv.slice(1).map(Number);
const end = Date.now() + ms;
for (let i = 0; i < threads; i++) new Worker('let x = 0; while (Date.now() < ' + end + ') x++;', { eval: true });
`;

/** Runs `threads` busy threads for `ms` (CPU contention), first moving the process into the cgroup v2 directory `cgroupDir` when given. */
export function busy(threads: number, ms: number, cgroupDir?: string): Promise<number | null> {
  const node = JSON.stringify(process.execPath);
  const script = `${cgroupDir ? `echo $$ > ${cgroupDir}/cgroup.procs && ` : ''}exec ${node} -e "$0" ${threads} ${ms}`;
  const child = spawn('/bin/sh', ['-c', script, BUSY], { stdio: 'ignore' });
  return new Promise((res) => child.on('close', (code) => res(code)));
}
