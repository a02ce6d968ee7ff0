// Real processes for the kernel tests: binaries under a comm no other process on the host has.
import { execFileSync, spawnSync } from 'node:child_process';
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
