// bin/bpfwasm, the `bpfwasm` command: glibc malloc's mmap threshold appended to the caller's
// GLIBC_TUNABLES (never replacing it, never overriding the caller's own threshold), then
// dist/src/cli.js under node, found through any symlink to the launcher (npm link, the image).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LAUNCHER, ROOT } from '../integration/support/collector.js';

const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-launcher-'));
const link = join(dir, 'bpfwasm');
symlinkSync(LAUNCHER, link);
const printTunables = join(dir, 'print-tunables.mjs');
writeFileSync(printTunables, 'console.log(process.env.GLIBC_TUNABLES ?? "unset"); process.exit(0);\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the node process the launcher starts sees in GLIBC_TUNABLES (printed before the CLI loads). */
function tunablesSeen(tunables: string | undefined): string {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--import=${printTunables}` };
  delete env.GLIBC_TUNABLES;
  if (tunables !== undefined) env.GLIBC_TUNABLES = tunables;
  const r = spawnSync(link, ['--version'], { env, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('the bpfwasm launcher', () => {
  it.each([
    [undefined, 'glibc.malloc.mmap_threshold=131072'],
    ['', 'glibc.malloc.mmap_threshold=131072'],
    ['glibc.malloc.arena_max=2', 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072'],
    ['glibc.malloc.mmap_threshold=65536', 'glibc.malloc.mmap_threshold=65536'],
    ['glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1048576', 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1048576'],
  ])('GLIBC_TUNABLES %j -> %j', (given, seen) => {
    expect(tunablesSeen(given)).toBe(seen);
  });

  it('runs the CLI through a symlink to it', () => {
    const r = spawnSync(link, ['--version'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    ['by its path', ['bin/bpfwasm'], '.'],
    ['from its own directory', ['sh', 'bpfwasm'], 'bin'],
  ])('runs the CLI %s, without a symlink to resolve', (_how, command, cwd) => {
    const r = spawnSync(command[0]!, [...command.slice(1), '--version'], { cwd: join(ROOT, cwd), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('passes its arguments on as they are', () => {
    const r = spawnSync(link, ['check', '--output', 'nonsense value'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('nonsense value');
  });
});
