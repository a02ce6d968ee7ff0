// Process activity with a command name no other process has, so its series are ours alone.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Copies /bin/true under a fresh name (≤ 15 bytes, the kernel's comm) and runs it `times` times; returns the name. */
export function runUniqueBinary(times: number): string {
  const comm = `bw${process.pid.toString(36)}${Date.now().toString(36).slice(-6)}`.slice(0, 15);
  const path = join(mkdtempSync(join(tmpdir(), 'bpfwasm-act-')), comm);
  copyFileSync('/bin/true', path);
  execFileSync('chmod', ['+x', path]);
  for (let i = 0; i < times; i++) execFileSync(path);
  return comm;
}
