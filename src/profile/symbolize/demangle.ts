// C++ (Itanium) and Rust (legacy and v0) symbol names made readable, through
// gecko-profiler-demangle: the Firefox profiler's WebAssembly build of the Rust crates
// cpp_demangle and rustc-demangle (Apache-2.0 OR MIT). Its entry module imports the .wasm as
// ES module, which Node cannot, so the glue is wired to an instance made here, on first use.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as glue from 'gecko-profiler-demangle/index_bg.js';

/** Names that may be mangled: Itanium `_Z…` (Rust's legacy scheme too) and Rust v0 `_R…`. */
const MANGLED = /^_{1,2}[ZR]/;
/** Demangled names kept; a profile of node meets a few thousand distinct ones. */
const CACHE_ENTRIES = 16_384;

let ready = false;
const cache = new Map<string, string>();

function instantiate(): void {
  const require = createRequire(import.meta.url);
  const bytes = readFileSync(require.resolve('gecko-profiler-demangle/index_bg.wasm'));
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { './index_bg.js': glue as unknown as WebAssembly.ModuleImports });
  glue.__wbg_set_wasm(instance.exports);
  ready = true;
}

/** The readable name, or the name itself when it is not mangled (or does not demangle). */
export function demangle(name: string): string {
  if (!MANGLED.test(name)) return name;
  let out = cache.get(name);
  if (out === undefined) {
    if (!ready) instantiate();
    try {
      out = glue.demangle_any(name);
      // On a failure it answers the name with its leading underscore dropped: keep the original.
      if (name.endsWith(out)) out = name;
    } catch {
      out = name; // a name the demanglers choke on stays as it was
    }
    if (cache.size >= CACHE_ENTRIES) cache.clear();
    cache.set(name, out);
  }
  return out;
}

/** Forgets the demangled names kept. */
export function clearDemangled(): void {
  cache.clear();
}
