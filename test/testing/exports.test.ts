// `bpfwasm/testing` is a typed package export that exporter projects import by name, and
// nothing the collector or the CLI runs reaches it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshTmpDir } from '../exporters/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const API = ['buildExporter', 'encodeBatch', 'feed', 'histogram', 'loadForTest', 'RecordType', 'replay', 'SDK_DIRS', 'value'];

/** Every source file `entry` imports, directly or not (relative imports, static and dynamic). */
function importGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
      const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
      if (existsSync(target)) visit(target);
    }
  };
  visit(entry);
  return seen;
}

describe('bpfwasm/testing', () => {
  it('is the package export ./testing with types, and exports the documented API', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['./testing']).toEqual({ types: './dist/src/testing/index.d.ts', default: './dist/src/testing/index.js' });
    const types = readFileSync(join(ROOT, 'dist/src/testing/index.d.ts'), 'utf8');
    for (const name of ['loadForTest', 'feed', 'value', 'histogram', 'encodeBatch']) expect(types).toMatch(new RegExp(`\\b${name}\\b`));
    // Imported by its package name, as an exporter project does (a package may import itself by name).
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('bpfwasm/testing'); console.log(Object.keys(m).sort().join(','))"], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split(',')).toEqual(expect.arrayContaining(API));
  });

  it('type-checks a TypeScript test that imports it by name', () => {
    const dir = freshTmpDir('testing-types');
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'bpfwasm'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    writeFileSync(join(dir, 'check.ts'), `import { loadForTest, feed, value, histogram, encodeBatch, RecordType, type LoadedForTest } from "bpfwasm/testing";
export async function check(wasm: Uint8Array): Promise<number> {
  const t: LoadedForTest = await loadForTest("x", wasm, { settings: { a: "b" } });
  await feed(t, RecordType.process_exit, [{ comm: "sh", lifetime_ns: 5n }]);
  const bytes: Uint8Array = encodeBatch(RecordType.process_exec, [{ comm: "sh" }]);
  return value(t, "m", { comm: "sh" }) + histogram(t, "h").count + bytes.length;
}
// @ts-expect-error: the kit has no such export, and the types say so
import { notThere } from "bpfwasm/testing";
`);
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), 'check.ts'], { cwd: dir, encoding: 'utf8' });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  }, 120_000);

  it('is reached by no code the collector or the CLI runs (bpfwasm exporters build included)', () => {
    const reached = [...importGraph(join(ROOT, 'src/cli.ts'))].map((f) => f.slice(ROOT.length + 1));
    expect(reached).toContain('src/exporters/build.ts'); // the walk does follow the CLI into the build
    expect(reached.filter((f) => /testing/.test(f))).toEqual([]);
  });
});
