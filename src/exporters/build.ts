// Compiles an exporter project (AssemblyScript or C) into a module: `bpfwasm exporters build`,
// and the test kit's buildExporter for scaffolded projects' tests.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../config.js';

/** The AssemblyScript and C SDKs shipped with this installation. */
export const SDK_DIRS = {
  assemblyscript: join(PACKAGE_ROOT, 'exporters', 'sdk', 'assemblyscript'),
  c: join(PACKAGE_ROOT, 'exporters', 'sdk', 'c'),
} as const;

interface Builders {
  buildAssemblyScript(entry: string, out: string, opts: { baseDir: string; sdkDir: string }): Promise<void>;
  buildC(sources: string[], out: string): Promise<void>;
}

/** The compilers' drivers, shared with `npm run build:exporters` (scripts/ is not compiled by tsc). */
async function builders(): Promise<Builders> {
  return (await import(pathToFileURL(join(PACKAGE_ROOT, 'scripts', 'build-exporters.mjs')).href)) as Builders;
}

/**
 * Builds the exporter in `dir` into `out` (default `<dir>/build/<dir name>.wasm`) and returns
 * the output path. `dir` holds either `index.ts` (AssemblyScript) or `*.c` (C). An
 * AssemblyScript exporter imports the SDK either from a copy in `<dir>/sdk/` (as scaffolded by
 * `bpfwasm exporters new`) or, inside this repository, from `exporters/sdk/assemblyscript`.
 * C sources include the SDK by a path of their own ("sdk/bpfwasm.h") or find it on the include
 * path, which has this installation's SDK. Throws with the compiler's diagnostics.
 */
export async function buildExporter(dir: string, out?: string): Promise<string> {
  const src = resolve(dir);
  const output = resolve(out ?? join(src, 'build', `${basename(src)}.wasm`));
  let files: string[];
  try {
    files = readdirSync(src);
  } catch (e) {
    throw new Error(`cannot read exporter directory ${dir}: ${(e as Error).message}`);
  }
  const cSources = files.filter((f) => f.endsWith('.c')).map((f) => join(src, f));
  mkdirSync(dirname(output), { recursive: true });
  const { buildAssemblyScript, buildC } = await builders();
  if (files.includes('index.ts')) {
    const vendored = existsSync(join(src, 'sdk', 'index.ts'));
    const sdkDir = vendored ? join(src, 'sdk') : SDK_DIRS.assemblyscript;
    // asc resolves the entry, the SDK and the output relative to one base directory.
    const baseDir = vendored ? src : PACKAGE_ROOT;
    if (!vendored && !src.startsWith(PACKAGE_ROOT + '/')) {
      throw new Error(`${dir}: an AssemblyScript exporter outside ${PACKAGE_ROOT} needs its SDK copy in ${join(dir, 'sdk')} (bpfwasm exporters new makes one)`);
    }
    await buildAssemblyScript(join(src, 'index.ts'), output, { baseDir, sdkDir });
  } else if (cSources.length) {
    await buildC(cSources, output);
  } else {
    throw new Error(`${dir}: neither an index.ts (AssemblyScript) nor .c sources (C)`);
  }
  return output;
}
