// scripts/gen-support.mjs: docs/KERNELS.md's support table and BENCHMARKS.md's matrix timings follow
// test/kernels/results.json, and --check catches any drift.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FILES = ['docs/KERNELS.md', 'BENCHMARKS.md', 'test/kernels/results.json'];
const gen = (...args: string[]) => spawnSync(process.execPath, [join(root, 'scripts/gen-support.mjs'), ...args], { encoding: 'utf8' });

let tree: string;
function copyTree(): string {
  tree = mkdtempSync(join(tmpdir(), 'gen-support-'));
  for (const f of FILES) {
    mkdirSync(dirname(join(tree, f)), { recursive: true });
    cpSync(join(root, f), join(tree, f));
  }
  return tree;
}
afterEach(() => { if (tree) rmSync(tree, { recursive: true, force: true }); });

describe('scripts/gen-support.mjs', () => {
  it('finds the committed docs/KERNELS.md and BENCHMARKS.md in step with the committed results', () => {
    const r = gen('--check');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('fails --check on a changed result, then renders it (pipes escaped) and passes', () => {
    const dir = copyTree();
    const resultsFile = join(dir, 'test/kernels/results.json');
    const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
    results['6.1'].sensors.tcp = { status: 'unsupported: a | b' };
    results['6.1'].seconds = 12.5;
    writeFileSync(resultsFile, JSON.stringify(results));

    const drift = gen('--check', '--root', dir);
    expect(drift.status).toBe(1);
    expect(drift.stderr).toContain('docs/KERNELS.md: the kernel-support section differs');
    expect(drift.stderr).toContain('BENCHMARKS.md: the kernel-matrix-times section differs');

    expect(gen('--root', dir).status).toBe(0);
    const tcpRow = readFileSync(join(dir, 'docs/KERNELS.md'), 'utf8').split('\n').find((l) => l.startsWith('| tcp |'))!;
    expect(tcpRow.split(' | ')[2]).toBe('unsupported: a \\| b'); // columns: 5.10, 6.1, ...
    expect(readFileSync(join(dir, 'BENCHMARKS.md'), 'utf8')).toMatch(/^\| 6\.1 \| x86_64 \| `6\.1\.0-[^`]+` \| 12\.5 s \|/m);
    expect(gen('--check', '--root', dir).status).toBe(0);
  });
});
