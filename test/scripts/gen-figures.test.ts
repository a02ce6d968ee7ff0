// scripts/gen-figures.mjs: the figures the docs quote are BENCHMARKS.md's, --check catches a
// quote that drifted, and a figure BENCHMARKS.md no longer has fails with what was looked for.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const gen = (...args: string[]) => spawnSync(process.execPath, [join(root, 'scripts/gen-figures.mjs'), ...args], { encoding: 'utf8' });
const TCP_ROW = /^\| tcp: connection open and close events \|.*$/m;

let tree = '';
afterEach(() => { if (tree) rmSync(tree, { recursive: true, force: true }); });

/** A tree holding the committed BENCHMARKS.md, with its tcp sensor row's bpfwasm cell set to `cell`, and `doc`. */
function copyTree(doc: string, cell?: string): string {
  tree = mkdtempSync(join(tmpdir(), 'gen-figures-'));
  cpSync(join(root, 'BENCHMARKS.md'), join(tree, 'BENCHMARKS.md'));
  if (cell !== undefined) {
    const text = readFileSync(join(tree, 'BENCHMARKS.md'), 'utf8');
    const row = TCP_ROW.exec(text)![0];
    const cells = row.split(' | ');
    cells[3] = cell; // sensor, operation, no probe, bpfwasm, …
    writeFileSync(join(tree, 'BENCHMARKS.md'), text.replace(row, cells.join(' | ')));
  }
  writeFileSync(join(tree, 'DOC.md'), doc);
  return tree;
}

const quote = (name: string, text: string) => `<!-- figure:${name} -->${text}<!-- /figure -->`;

describe('scripts/gen-figures.mjs', () => {
  it('finds every committed quote in step with the committed BENCHMARKS.md', () => {
    const r = gen('--check');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('fails --check on a changed figure, then quotes it in two significant digits and passes', () => {
    const dir = copyTree(`tcp costs ${quote('sensors.tcp', '+4.6 µs')} per connection.\n`, '30.3 µs (+6149 ns, 1.27×)');
    const drift = gen('--check', '--root', dir);
    expect(drift.status).toBe(1);
    expect(drift.stderr).toContain('gen-figures: DOC.md quote figures that differ from BENCHMARKS.md; run `npm run gen`');

    expect(gen('--root', dir).status).toBe(0);
    expect(readFileSync(join(dir, 'DOC.md'), 'utf8')).toBe(`tcp costs ${quote('sensors.tcp', '+6.1 µs')} per connection.\n`);
    expect(gen('--check', '--root', dir).status).toBe(0);
  });

  it.each([
    ['+815 ns', '5722 ns (+815 ns, 1.17×)', '+820 ns'],
    ['+481 ns', '631 ns (+481 ns, 4.20×)', '+480 ns'],
    ['+11.9 µs', '35.0 µs (+11.9 µs, 1.52×)', '+12 µs'],
    ['a cost no larger than the noise (†)', '768.3 µs (+20.0 µs†, 1.03×)', '+20 µs, within noise'],
    ['a negative one', '23.1 µs (-410 ns†, 0.98×)', '−410 ns, within noise'],
  ])('quotes %s as a reader takes it in', (_name, cell, expected) => {
    const dir = copyTree(`${quote('sensors.tcp', 'old')}\n`, cell);
    expect(gen('--root', dir).status).toBe(0);
    expect(readFileSync(join(dir, 'DOC.md'), 'utf8')).toBe(`${quote('sensors.tcp', expected)}\n`);
  });

  it('fails, naming the figure and where it looked, when BENCHMARKS.md no longer has it', () => {
    const dir = copyTree(`${quote('sensors.tcp', '+4.6 µs')}\n`);
    const text = readFileSync(join(dir, 'BENCHMARKS.md'), 'utf8');
    writeFileSync(join(dir, 'BENCHMARKS.md'), text.replace(TCP_ROW, ''));
    const r = gen('--check', '--root', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('gen-figures: DOC.md: BENCHMARKS.md has no figure "sensors.tcp" (section "eBPF sensors: overhead per traced operation", row "tcp:…", column "bpfwasm (added, ×)"): no such row');
    // Writing fails the same way and leaves the quote as it was.
    expect(gen('--root', dir).status).toBe(1);
    expect(readFileSync(join(dir, 'DOC.md'), 'utf8')).toBe(`${quote('sensors.tcp', '+4.6 µs')}\n`);
  });

  it('fails on a cell that holds no figure of the expected shape, and on a name it does not know', () => {
    const dir = copyTree(`${quote('sensors.tcp', '+4.6 µs')} ${quote('sensors.tpc', '1')}\n`, 'not measured');
    const r = gen('--check', '--root', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('its cell "not measured" has no "(+N unit, R×)" added cost in it');
    expect(r.stderr).toContain('no figure "sensors.tpc" in FIGURES (scripts/gen-figures.mjs)');
  });
});
