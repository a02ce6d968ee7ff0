#!/usr/bin/env node
// Builds every built-in exporter into exporters/build/<name>.wasm:
//   exporters/<name>/index.ts  → AssemblyScript, compiled in-process with the asc API
//   exporters/<name>/*.c       → C, compiled by clang for wasm32 and linked by wasm-ld
// An output newer than its sources (and the SDK it uses) is kept, so a no-op build is instant;
// `--force` rebuilds everything.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import asc from 'assemblyscript/asc';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUILD_DIR = join(ROOT, 'exporters', 'build');
const EXPORTERS_DIR = join(ROOT, 'exporters');
const AS_SDK = join(EXPORTERS_DIR, 'sdk', 'assemblyscript');
const C_SDK = join(EXPORTERS_DIR, 'sdk', 'c');
export const RUST_SDK = join(EXPORTERS_DIR, 'sdk', 'rust');
// examples/: user exporters to copy from, built only on demand (not loaded by default).
const NOT_EXPORTERS = new Set(['sdk', 'build', 'examples']);

/**
 * AssemblyScript flags. `--runtime stub`: exporters allocate only during init (names, caches,
 * the batch buffer) and never per event, so a bump allocator without GC is enough, is the
 * smallest, and can never pause inside on_batch. `--use abort=…` swaps `env.abort` for the
 * SDK's, so a module imports nothing but `bpfwasm.*`. The path is relative to `--baseDir`.
 */
export function ascFlags(baseDir, sdkDir = AS_SDK) {
  const sdk = relative(baseDir, join(sdkDir, 'index')).split('\\').join('/');
  return ['-O3', '--runtime', 'stub', '--use', `abort=${sdk}/bpfwasmAbort`, '--baseDir', baseDir];
}

/**
 * C flags. -nostdlib: exporters are freestanding (no libc, no WASI). -mbulk-memory lowers the
 * memcpy/memset clang emits for struct copies and loops to wasm instructions instead of libc
 * calls that would not link. --no-entry: a library, exports come from export_name attributes.
 */
export const C_FLAGS = ['--target=wasm32', '-O2', '-nostdlib', '-ffreestanding', '-mbulk-memory',
  '-Wall', '-Wextra', '-Werror', '-Wl,--no-entry', '-Wl,--strip-debug'];

/**
 * Compiles one AssemblyScript entry file; throws with the compiler's diagnostics on failure.
 * `sdkDir` is the copy of the SDK the entry imports (it must lie under `baseDir`).
 */
export async function buildAssemblyScript(entry, out, { baseDir = ROOT, sdkDir = AS_SDK } = {}) {
  let diagnostics = '';
  const sink = { write: (chunk) => { diagnostics += chunk; return true; } };
  const { error } = await asc.main(
    [relative(baseDir, entry), ...ascFlags(baseDir, sdkDir), '-o', relative(baseDir, out)],
    { stdout: sink, stderr: sink },
  );
  if (error) throw new Error(`asc failed for ${relative(ROOT, entry)}:\n${diagnostics || error.message}`);
}

/** Compiles and links C sources into one module; throws with clang's output on failure. */
export async function buildC(sources, out) {
  const clang = process.env.CLANG ?? 'clang';
  try {
    await promisify(execFile)(clang, [...C_FLAGS, '-I', C_SDK, '-o', out, ...sources]);
  } catch (e) {
    if (e.code === 'ENOENT') {
      throw new Error(`${clang} not found: C exporters need clang and lld (wasm-ld), e.g. apt-get install clang lld; or set CLANG`);
    }
    throw new Error(`clang failed for ${sources.map((s) => relative(ROOT, s)).join(' ')}:\n${e.stderr ?? e.message}`);
  }
}

/**
 * Rust flags, for the SDK (an rlib) and the exporter (a cdylib) alike. opt-level=s with LTO and
 * one codegen unit: the smallest module, the SDK inlined into it. panic=abort: a panic is the
 * SDK's handler (log, then trap), no unwinding tables. strip=symbols drops names and debug info.
 */
export const RUST_FLAGS = ['--edition', '2021', '--target', 'wasm32-unknown-unknown', '-C', 'opt-level=s', '-C', 'panic=abort'];
export const RUST_CDYLIB_FLAGS = ['--crate-type', 'cdylib', '-C', 'lto', '-C', 'codegen-units=1', '-C', 'strip=symbols'];

/**
 * Compiles a Rust exporter crate (its root file, `src/lib.rs`) against the SDK in `sdkDir`:
 * the SDK into an rlib beside the output, then the crate into the module. Debian 12's rustc
 * (1.63) with libstd-rust-dev-wasm32 is enough; RUSTC picks another compiler. Throws with
 * rustc's diagnostics, or says what to install when the wasm32 target is missing.
 */
export async function buildRust(crateRoot, out, { sdkDir = RUST_SDK } = {}) {
  const rustc = process.env.RUSTC ?? 'rustc';
  const sdkOut = mkdtempSync(join(tmpdir(), 'bpfwasm-rust-sdk-'));
  const run = async (args, what) => {
    try {
      await promisify(execFile)(rustc, [...RUST_FLAGS, ...args]);
    } catch (e) {
      if (e.code === 'ENOENT') {
        throw new Error(`${rustc} not found: Rust exporters need rustc with the wasm32 target, e.g. apt-get install rustc libstd-rust-dev-wasm32; or set RUSTC`);
      }
      const stderr = e.stderr ?? e.message;
      if (/can't find crate for `core`/.test(stderr)) {
        throw new Error(`${rustc} has no wasm32-unknown-unknown target: apt-get install libstd-rust-dev-wasm32 (Debian's rustc), or rustup target add wasm32-unknown-unknown; or set RUSTC to a rustc that has it`);
      }
      throw new Error(`rustc failed for ${what}:\n${stderr}`);
    }
  };
  try {
    await run(['--crate-type', 'rlib', '--crate-name', 'bpfwasm', '--out-dir', sdkOut, join(sdkDir, 'lib.rs')], 'the bpfwasm SDK');
    await run([...RUST_CDYLIB_FLAGS, '--extern', `bpfwasm=${join(sdkOut, 'libbpfwasm.rlib')}`, '-o', out, crateRoot], relative(ROOT, crateRoot));
  } finally {
    rmSync(sdkOut, { recursive: true, force: true });
  }
}

/** The built-in exporters: every directory of exporters/ but sdk/ and build/. */
export function findExporters() {
  const found = [];
  for (const entry of readdirSync(EXPORTERS_DIR, { withFileTypes: true })) {
    if (!entry.isDirectory() || NOT_EXPORTERS.has(entry.name)) continue;
    const dir = join(EXPORTERS_DIR, entry.name);
    const files = readdirSync(dir);
    const cSources = files.filter((f) => f.endsWith('.c')).map((f) => join(dir, f));
    if (files.includes('index.ts')) found.push({ name: entry.name, dir, language: 'assemblyscript' });
    else if (cSources.length) found.push({ name: entry.name, dir, language: 'c', sources: cSources });
    else throw new Error(`exporters/${entry.name}: neither an index.ts nor .c sources`);
  }
  return found;
}

/** Newest modification time of any file under the given paths. */
function newest(paths) {
  let t = 0;
  for (const p of paths) {
    const s = statSync(p);
    if (s.isDirectory()) t = Math.max(t, newest(readdirSync(p).map((f) => join(p, f))));
    else t = Math.max(t, s.mtimeMs);
  }
  return t;
}

function outputTime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * Builds the exporters whose output is missing or older than its sources; returns their names.
 * clang builds run in child processes concurrently with the asc builds, which run one after
 * the other in this process (the compiler API is not documented as reentrant).
 */
export async function buildAll({ force = false } = {}) {
  mkdirSync(BUILD_DIR, { recursive: true });
  const stale = findExporters().filter((e) =>
    force || outputTime(join(BUILD_DIR, `${e.name}.wasm`)) < newest([e.dir, e.language === 'c' ? C_SDK : AS_SDK]));
  const out = (e) => join(BUILD_DIR, `${e.name}.wasm`);
  const assemblyScript = async () => {
    for (const e of stale.filter((e) => e.language === 'assemblyscript')) {
      await buildAssemblyScript(join(e.dir, 'index.ts'), out(e));
    }
  };
  await Promise.all([...stale.filter((e) => e.language === 'c').map((e) => buildC(e.sources, out(e))), assemblyScript()]);
  return stale.map((e) => e.name);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  try {
    const built = await buildAll({ force: process.argv.includes('--force') });
    const what = built.length ? `built ${built.join(', ')}` : 'all exporters up to date';
    console.log(`build-exporters: ${what} in ${Date.now() - started} ms → ${relative(ROOT, BUILD_DIR)}/`);
  } catch (e) {
    console.error(`build-exporters: ${e.message}`);
    process.exit(1);
  }
}
