// Compiles an exporter project (AssemblyScript, C or a Rust crate) into a module, or checks a prebuilt one: `bpfwasm exporters build`,
// and the test kit's buildExporter for scaffolded projects' tests.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../package-root.js';
import { SeriesStore } from '../metrics/store.js';
import { loadExporter, type ExporterHost } from './host/runtime.js';

/** The AssemblyScript, C and Rust SDKs shipped with this installation. */
export const SDK_DIRS = {
  assemblyscript: join(PACKAGE_ROOT, 'exporters', 'sdk', 'assemblyscript'),
  c: join(PACKAGE_ROOT, 'exporters', 'sdk', 'c'),
  rust: join(PACKAGE_ROOT, 'exporters', 'sdk', 'rust'),
} as const;

interface Builders {
  buildAssemblyScript(entry: string, out: string, opts: { baseDir: string; sdkDir: string }): Promise<void>;
  buildC(sources: string[], out: string): Promise<void>;
  buildRust(crateRoot: string, out: string, opts: { sdkDir: string }): Promise<void>;
}

/** The compilers' drivers, shared with `npm run build:exporters` (scripts/ is not compiled by tsc). */
async function builders(): Promise<Builders> {
  return (await import(pathToFileURL(join(PACKAGE_ROOT, 'scripts', 'build-exporters.mjs')).href)) as Builders;
}

/**
 * Builds the exporter in `dir` into `out` (default `<dir>/build/<dir name>.wasm`) and returns
 * the output path. `dir` holds `index.ts` (AssemblyScript), `*.c` (C) or a Rust crate
 * (`src/lib.rs`, built against its `sdk/` copy or this installation's SDK); `dir` may also be
 * a prebuilt `.wasm`, which is checked as the collector would and copied to `out`. An
 * AssemblyScript exporter imports the SDK either from a copy in `<dir>/sdk/` (as scaffolded by
 * `bpfwasm exporters new`) or, inside this repository, from `exporters/sdk/assemblyscript`.
 * C sources include the SDK by a path of their own ("sdk/bpfwasm.h") or find it on the include
 * path, which has this installation's SDK. Throws with the compiler's diagnostics.
 */
export async function buildExporter(dir: string, out?: string): Promise<string> {
  if (dir.endsWith('.wasm')) return checkPrebuilt(dir, out);
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
  const { buildAssemblyScript, buildC, buildRust } = await builders();
  if (existsSync(join(src, 'src', 'lib.rs'))) {
    const vendored = existsSync(join(src, 'sdk', 'lib.rs'));
    await buildRust(join(src, 'src', 'lib.rs'), output, { sdkDir: vendored ? join(src, 'sdk') : SDK_DIRS.rust });
  } else if (files.includes('index.ts')) {
    const vendored = existsSync(join(src, 'sdk', 'index.ts'));
    const sdkDir = vendored ? join(src, 'sdk') : SDK_DIRS.assemblyscript;
    // asc resolves the entry, the SDK and the output relative to one base directory.
    const baseDir = vendored ? src : PACKAGE_ROOT;
    if (!vendored && !src.startsWith(`${PACKAGE_ROOT}/`)) {
      throw new Error(`${dir}: an AssemblyScript exporter outside ${PACKAGE_ROOT} needs its SDK copy in ${join(dir, 'sdk')} (bpfwasm exporters new makes one)`);
    }
    await buildAssemblyScript(join(src, 'index.ts'), output, { baseDir, sdkDir });
  } else if (cSources.length) {
    await buildC(cSources, output);
  } else {
    throw new Error(`${dir}: neither an index.ts (AssemblyScript), .c sources (C) nor src/lib.rs (Rust)`);
  }
  return output;
}

/**
 * A module built elsewhere: read it, refuse what the collector would refuse before running it
 * (not WebAssembly, imports or exports off the ABI, over the memory budget), copy it to `out`
 * (default `build/<file name>` beside it).
 */
async function checkPrebuilt(file: string, out?: string): Promise<string> {
  const src = resolve(file);
  const output = resolve(out ?? join(dirname(src), 'build', basename(src)));
  let wasm: Uint8Array;
  try {
    wasm = readFileSync(src);
  } catch (e) {
    throw new Error(`cannot read module ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const name = basename(src, '.wasm');
  // Validated, instantiated and initialised, with no settings: what a load does.
  const host: ExporterHost = {
    store: new SeriesStore({ maxSeriesPerOwner: 10_000, maxLabelValueBytes: 1024 }),
    log: () => {},
    quarantined: () => {}, // loaded and closed at once: a failure rejects the load instead
    resolve: () => undefined,
    settings: () => undefined,
    maxBatchBytes: 1 << 16,
  };
  await (await loadExporter(name, wasm, host)).close();
  if (output !== src) {
    mkdirSync(dirname(output), { recursive: true });
    copyFileSync(src, output);
  }
  return output;
}
