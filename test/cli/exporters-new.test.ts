// `bpfwasm exporters new` and `build` through the real CLI (dist/): a scaffolded project builds
// and its own generated test passes under vitest, as after `npm install && npm test`.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshTmpDir } from '../exporters/helpers.js';
import { useDebianRustc } from '../exporters/rust.js';

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
/** Exit status 1 for a failure, 2 for a usage error (commander's, in the same one-line form). */
function fails(args: string[], status = 1): string {
  const r = bpfwasm(args);
  expect(r.code, r.stdout + r.stderr).toBe(status);
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

  it.each([['as', 'index.ts'], ['c', 'hello-c.c'], ['rust', 'src/lib.rs']])('--lang %s scaffolds a project that builds and passes its own test', (lang, source) => {
    useDebianRustc(); // the CLI and the project's vitest inherit RUSTC
    const parent = freshTmpDir(`new-${lang}`);
    // Created inside another project whose vitest config finds nothing here: the scaffold's own config must win.
    writeFileSync(join(parent, 'vitest.config.ts'), 'export default { test: { include: ["elsewhere/**/*.test.ts"] } };\n');
    const name = `hello-${lang}`;
    const out = ok(['new', name, '--lang', lang, '--dir', parent]);
    const project = join(parent, name);
    expect(out).toContain(`created ${project}: ${source}, ${name}.test.ts, vitest.config.ts, package.json, README.md, .gitignore, sdk/`);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    expect(pkg.devDependencies.bpfwasm).toBe(`file:${ROOT}`);
    expect(pkg.scripts).toEqual({ build: 'bpfwasm exporters build .', test: 'vitest run' });

    // The CLI build once (C compiles fastest); the generated test builds with the same function.
    if (lang !== 'as') expect(ok(['build', project])).toBe(`built ${join(project, 'build', `${name}.wasm`)}\n`);
    if (lang === 'rust') expect(readFileSync(join(project, 'sdk', 'events.rs'), 'utf8')).toContain('pub struct ProcessExit {');
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
    expect(fails(['new', 'Bad Name'], 2)).toMatch(/^bpfwasm: command-argument value 'Bad Name' is invalid for argument 'name'\./);
    expect(fails(['new', 'x', '--lang', 'go'], 2)).toMatch(/^bpfwasm: option '-l, --lang <lang>' argument 'go' is invalid/);
    expect(fails(['build', parent])).toBe(`bpfwasm: ${parent}: neither an index.ts (AssemblyScript), .c sources (C) nor src/lib.rs (Rust)`);
  });
});

describe('bpfwasm exporters build', () => {
  const forks = join(ROOT, 'exporters', 'build', 'forks.wasm');

  it('checks a prebuilt .wasm as a load would and copies it to --out, or beside it into build/', () => {
    const dir = freshTmpDir('build-wasm');
    copyFileSync(forks, join(dir, 'forks.wasm'));
    const out = join(dir, 'deploy', 'forks.wasm');
    expect(ok(['build', join(dir, 'forks.wasm'), '--out', out])).toBe(`built ${out}\n`);
    expect(readFileSync(out)).toEqual(readFileSync(forks));
    expect(ok(['build', join(dir, 'forks.wasm')])).toBe(`built ${join(dir, 'build', 'forks.wasm')}\n`);
  });

  it('refuses a .wasm that is not WebAssembly, or not an exporter, naming the problem', () => {
    const dir = freshTmpDir('build-wasm-bad');
    writeFileSync(join(dir, 'junk.wasm'), 'not wasm');
    expect(fails(['build', join(dir, 'junk.wasm')])).toMatch(/^bpfwasm: .*junk/);
    writeFileSync(join(dir, 'empty.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    expect(fails(['build', join(dir, 'empty.wasm')])).toMatch(/^bpfwasm: .*empty: missing export/);
    expect(fails(['build', join(dir, 'absent.wasm')])).toBe(`bpfwasm: cannot read module ${join(dir, 'absent.wasm')}: ENOENT`);
  });

  it("gives rustc's diagnostics for a Rust crate that does not compile", () => {
    useDebianRustc();
    const project = join(freshTmpDir('build-rust-bad'), 'broken');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'lib.rs'), '#![no_std]\nstruct Nothing;\nbpfwasm::export!(Nothing);\n');
    const r = bpfwasm(['build', project]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^bpfwasm: rustc failed for .*broken\/src\/lib\.rs:\n/);
    expect(r.stderr).toContain('the trait bound `Nothing: Exporter` is not satisfied');
    process.env.RUSTC = join(project, 'no-rustc'); // the CLI inherits it
    expect(fails(['build', project])).toBe(`bpfwasm: ${join(project, 'no-rustc')} not found: Rust exporters need rustc with the wasm32 target, e.g. apt-get install rustc libstd-rust-dev-wasm32; or set RUSTC`);
    useDebianRustc();
  });
});
