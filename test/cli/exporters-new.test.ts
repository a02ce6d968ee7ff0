// `bpfwasm exporters new` and `build` through the real CLI (dist/): a scaffolded project builds
// and its own generated test passes under vitest, as after `npm install && npm test`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshTmpDir } from '../exporters/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

function bpfwasm(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'exporters', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[]): string {
  const r = bpfwasm(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** A failure: exit 1 and exactly one line on stderr, which is returned. */
function fails(args: string[]): string {
  const r = bpfwasm(args);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr.endsWith('\n') && r.stderr.split('\n').length === 2, `not one line: ${JSON.stringify(r.stderr)}`).toBe(true);
  return r.stderr.trimEnd();
}

describe('bpfwasm exporters new', () => {
  /** `npm install` of the scaffolded package.json, offline: bpfwasm and vitest as links. */
  function install(project: string): void {
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(ROOT, join(project, 'node_modules', 'bpfwasm'));
    symlinkSync(join(ROOT, 'node_modules', 'vitest'), join(project, 'node_modules', 'vitest'));
  }

  it.each([['as', 'index.ts'], ['c', 'hello-c.c']])('--lang %s scaffolds a project that builds and passes its own test', (lang, source) => {
    const parent = freshTmpDir(`new-${lang}`);
    // Created inside another project whose vitest config finds nothing here: the scaffold's own config must win.
    writeFileSync(join(parent, 'vitest.config.ts'), 'export default { test: { include: ["elsewhere/**/*.test.ts"] } };\n');
    const name = lang === 'as' ? 'hello-as' : 'hello-c';
    const out = ok(['new', name, '--lang', lang, '--dir', parent]);
    const project = join(parent, name);
    expect(out).toContain(`created ${project}: ${source}, ${name}.test.ts, vitest.config.ts, package.json, README.md, .gitignore, sdk/`);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    expect(pkg.devDependencies.bpfwasm).toBe(`file:${ROOT}`);
    expect(pkg.scripts).toEqual({ build: 'bpfwasm exporters build .', test: 'vitest run' });

    // The CLI build once (C compiles fastest); the generated test builds with the same function.
    if (lang === 'c') expect(ok(['build', project])).toBe(`built ${join(project, 'build', `${name}.wasm`)}\n`);
    install(project);
    const test = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], {
      cwd: project, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' },
    });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/Tests +2 passed \(2\)/);
  }, 240_000); // two compiles and a nested vitest: minutes on a loaded machine

  it('refuses an existing project, a bad name and an unknown language', () => {
    const parent = freshTmpDir('new-bad');
    ok(['new', 'taken', '--dir', parent]);
    expect(fails(['new', 'taken', '--dir', parent])).toBe(`bpfwasm: ${join(parent, 'taken')} already exists and is not empty`);
    expect(fails(['new', 'Bad Name'])).toMatch(/^error: command-argument value 'Bad Name' is invalid for argument 'name'\./);
    expect(fails(['new', 'x', '--lang', 'rust'])).toMatch(/^error: option '-l, --lang <lang>' argument 'rust' is invalid/);
    expect(fails(['build', parent])).toBe(`bpfwasm: ${parent}: neither an index.ts (AssemblyScript) nor .c sources (C)`);
  });
});
