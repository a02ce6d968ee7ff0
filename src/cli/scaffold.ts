// `bpfwasm exporters new`: the files of a new exporter project. The exporter is small but
// real (exits by command name and a lifetime histogram), so the generated test exercises a
// counter, a histogram, a series cache and the build, and a user edits working code.
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';
import { SDK_DIRS } from '../exporters/build.js';
import { rustSource } from './scaffold-rust.js';

export type Language = 'as' | 'c' | 'rust';

const LANGUAGE_NAME: Record<Language, string> = { as: 'AssemblyScript', c: 'C', rust: 'Rust' };

/** The exporter's source file in the project. */
const sourceFile = (name: string, lang: Language) => (lang === 'as' ? 'index.ts' : lang === 'c' ? `${name}.c` : 'src/lib.rs');

/** Exporter names become file names and metric name parts: keep them to one safe alphabet. */
export const NAME_RE = /^[a-z][a-z0-9_-]{0,47}$/;

export interface Scaffolded {
  readonly dir: string;
  readonly files: string[];
}

/** Writes a new exporter project `<parent>/<name>`; throws if it exists and is not empty. */
export function scaffold(name: string, lang: Language, parent: string): Scaffolded {
  if (!NAME_RE.test(name)) {
    throw new Error(`invalid exporter name ${JSON.stringify(name)}: use a lowercase letter, then up to 47 of a-z 0-9 _ -`);
  }
  const dir = join(parent, name);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} already exists and is not empty`);
  mkdirSync(dir, { recursive: true });
  const metric = `bpfwasm_${name.replace(/-/g, '_')}`;
  const source = lang === 'as' ? asSource(name, metric) : lang === 'c' ? cSource(name, metric) : rustSource(name, metric);
  const files: Record<string, string> = {
    [sourceFile(name, lang)]: source,
    [`${name}.test.ts`]: testSource(name, metric, lang),
    'vitest.config.ts': VITEST_CONFIG,
    'package.json': packageJson(name, lang),
    'README.md': readme(name, metric, lang),
    '.gitignore': 'build/\nnode_modules/\n',
  };
  if (lang === 'rust') mkdirSync(join(dir, 'src'));
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  // A copy of the SDK, so the project builds anywhere and pins the ABI it was written against.
  const sdk = lang === 'as' ? SDK_DIRS.assemblyscript : lang === 'c' ? SDK_DIRS.c : SDK_DIRS.rust;
  cpSync(sdk, join(dir, 'sdk'), { recursive: true, filter: (src) => !src.endsWith('README.md') });
  return { dir, files: [...Object.keys(files), 'sdk/'] };
}

function asSource(name: string, metric: string): string {
  return `// ${name}: a bpfwasm exporter in AssemblyScript (ABI: ${join(PACKAGE_ROOT, 'exporters', 'ABI.md')}).
// Counts process exits by command name and observes how long the processes lived.
import {
  RecordType, Header, ProcessExit, SeriesCache, declareCounter, declareHistogram, subscribe,
  series1, strnlen, counterAdd, observe, flush, batchBegin,
} from "./sdk/index";

// Every exporter re-exports these from the SDK.
export { bpfwasm_abi_version, bpfwasm_batch_buffer, bpfwasm_forget } from "./sdk/index";

const LIFETIME_BOUNDS: StaticArray<f64> = [0.001, 0.01, 0.1, 1, 10, 60];

let exits: i32 = 0;
let lifetime: i32 = 0;
// Series ids by raw comm bytes, so a batch asks the host only for comms it has not seen.
const exitIds = new SeriesCache(1024);
const lifetimeIds = new SeriesCache(1024);

export function bpfwasm_init(): i32 {
  exits = declareCounter("${metric}_exits_total", "Processes that exited, by command name", "comm");
  lifetime = declareHistogram("${metric}_lifetime_seconds", "Lifetime of exited processes, by command name", "comm", LIFETIME_BOUNDS);
  subscribe(RecordType.PROCESS_EXIT);
  return 0;
}

export function bpfwasm_on_batch(recordType: u32, ptr: usize, len: u32, count: u32): i32 {
  batchBegin(); // a batch that trapped before its flush leaves its operations out of this one
  if (recordType != RecordType.PROCESS_EXIT || len != count * ProcessExit.SIZE) return 1;
  for (let i: u32 = 0; i < count; i++) {
    const rec = ptr + i * ProcessExit.SIZE;
    const comm = Header.comm(rec);
    counterAdd(seriesFor(exitIds, exits, comm), 1);
    observe(seriesFor(lifetimeIds, lifetime, comm), <f64>ProcessExit.lifetimeNs(rec) / 1e9);
  }
  flush();
  return 0;
}

function seriesFor(cache: SeriesCache, metric: i32, comm: usize): i32 {
  const k0 = load<u64>(comm);
  const k1 = load<u64>(comm, 8);
  let sid = cache.get(k0, k1, 0);
  if (sid == SeriesCache.MISS) {
    sid = series1(metric, comm, strnlen(comm, 16));
    cache.set(k0, k1, 0, sid);
  }
  return sid;
}
`;
}

function cSource(name: string, metric: string): string {
  return `/* ${name}: a bpfwasm exporter in C (ABI: ${join(PACKAGE_ROOT, 'exporters', 'ABI.md')}).
 * Counts process exits by command name and observes how long the processes lived. */
#include "sdk/bpfwasm.h"

BPFWASM_STANDARD_EXPORTS

static const double lifetime_bounds[] = { 0.001, 0.01, 0.1, 1, 10, 60 };
static __s32 exits, lifetime;
/* Series ids by raw comm bytes, so a batch asks the host only for comms it has not seen. */
BPFWASM_CACHE(exit_ids, 1024);
BPFWASM_CACHE(lifetime_ids, 1024);
BPFWASM_FORGET_CLEARS(&exit_ids, &lifetime_ids)

BPFWASM_EXPORT(bpfwasm_init) __s32 bpfwasm_init(void)
{
	exits = bpfwasm_declare(BPFWASM_COUNTER, "${metric}_exits_total", "Processes that exited, by command name", "comm", 0, 0);
	if (exits < 0)
		return exits;
	lifetime = bpfwasm_declare(BPFWASM_HISTOGRAM, "${metric}_lifetime_seconds", "Lifetime of exited processes, by command name",
		"comm", lifetime_bounds, sizeof(lifetime_bounds) / sizeof(lifetime_bounds[0]));
	if (lifetime < 0)
		return lifetime;
	return bpfwasm_subscribe(BPFWASM_RECORD_PROCESS_EXIT);
}

static __s32 series_for(struct bpfwasm_cache *cache, __s32 metric, const char *comm)
{
	__u64 k0 = bpfwasm_comm_word(comm, 0), k1 = bpfwasm_comm_word(comm, 1);
	__s32 id = bpfwasm_cache_get(cache, k0, k1, 0);
	if (id == BPFWASM_CACHE_MISS) {
		id = bpfwasm_series1(metric, comm, bpfwasm_strnlen(comm, 16));
		bpfwasm_cache_set(cache, k0, k1, 0, id);
	}
	return id;
}

BPFWASM_EXPORT(bpfwasm_on_batch) __s32 bpfwasm_on_batch(__u32 type, const void *ptr, __u32 len, __u32 count)
{
	bpfwasm_batch_begin();
	if (type != BPFWASM_RECORD_PROCESS_EXIT || len != count * BPFWASM_PROCESS_EXIT_SIZE)
		return 1;
	const struct bpfwasm_process_exit *rec = ptr;
	for (__u32 i = 0; i < count; i++, rec++) {
		bpfwasm_counter_add(series_for(&exit_ids, exits, rec->hdr.comm), 1);
		bpfwasm_observe(series_for(&lifetime_ids, lifetime, rec->hdr.comm), (double)rec->lifetime_ns / 1e9);
	}
	bpfwasm_flush();
	return 0;
}
`;
}

// vitest looks for its config in the parent directories too: a project created inside another
// one would run under that one's config (its include patterns) and find no test here.
const VITEST_CONFIG = `// This project's own vitest config, so one in a parent directory is not used instead.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: { root: import.meta.dirname, include: ["*.test.ts"] },
});
`;

function testSource(name: string, metric: string, lang: Language): string {
  return `// Builds the exporter, loads it into bpfwasm's exporter runtime and feeds it synthetic records.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildExporter, loadForTest, RecordType } from "bpfwasm/testing";

let wasm: Uint8Array;

beforeAll(async () => {
  wasm = readFileSync(await buildExporter(import.meta.dirname));
}, 60_000);

describe("${name} (${LANGUAGE_NAME[lang]})", () => {
  it("counts exits by command name and observes lifetimes", async () => {
    const t = await loadForTest("${name}", wasm);
    await t.feed(RecordType.process_exit, [
      { comm: "cc1", lifetime_ns: 2_000_000 }, // 2 ms
      { comm: "cc1", lifetime_ns: 3_000_000_000 }, // 3 s
      { comm: "ld", lifetime_ns: 500_000 }, // 0.5 ms
    ]);
    expect(t.value("${metric}_exits_total", { comm: "cc1" })).toBe(2);
    expect(t.value("${metric}_exits_total", { comm: "ld" })).toBe(1);
    // Cumulative counts per bound 0.001, 0.01, 0.1, 1, 10, 60, +Inf.
    const cc1 = t.histogram("${metric}_lifetime_seconds", { comm: "cc1" });
    expect(cc1.cumulative).toEqual([0, 1, 1, 1, 2, 2, 2]);
    expect(cc1.count).toBe(2);
    expect(cc1.sum).toBeCloseTo(3.002, 9);
    expect(t.histogram("${metric}_lifetime_seconds", { comm: "ld" }).cumulative[0]).toBe(1);
    expect(t.exporter.errors + t.exporter.traps + t.exporter.rejectedOps).toBe(0);
  });

  it("refuses a batch of another record type", async () => {
    const t = await loadForTest("${name}", wasm);
    await t.feed(RecordType.process_exec, [{ comm: "sh" }]);
    expect(t.exporter.errors).toBe(1);
    expect(t.value("${metric}_exits_total", { comm: "sh" })).toBe(0);
  });
});
`;
}

function packageJson(name: string, lang: Language): string {
  const devDependencies: Record<string, string> = { bpfwasm: `file:${PACKAGE_ROOT}`, vitest: '^4.1.12' };
  if (lang === 'as') devDependencies.assemblyscript = '^0.28.20';
  return `${JSON.stringify({
    name: `bpfwasm-exporter-${name}`,
    private: true,
    type: 'module',
    scripts: { build: 'bpfwasm exporters build .', test: 'vitest run' },
    devDependencies,
  }, null, 2)}\n`;
}

function readme(name: string, metric: string, lang: Language): string {
  const source = sourceFile(name, lang);
  const language = lang === 'as' ? 'AssemblyScript' : lang === 'c' ? 'C (freestanding, clang + wasm-ld)'
    : 'Rust (no_std; rustc ≥ 1.63 with the wasm32-unknown-unknown target: on Debian 12 `apt-get install rustc libstd-rust-dev-wasm32`, or set RUSTC)';
  return `# ${name}

A bpfwasm exporter in ${language}: it counts process exits by
command name (\`${metric}_exits_total\`) and observes their lifetimes
(\`${metric}_lifetime_seconds\`). Edit \`${source}\`; \`sdk/\` is a copy of the SDK it
was scaffolded with (ABI: ${join(PACKAGE_ROOT, 'exporters', 'ABI.md')}).

\`\`\`sh
npm install                  # bpfwasm (for the build and the test kit) and vitest
npm test                     # builds build/${name}.wasm and runs ${name}.test.ts against the real runtime
npm run build                # only the build: build/${name}.wasm
\`\`\`

Load it: list this project's \`build\` directory in the collector's config; the file name
without \`.wasm\` is the exporter's name.

\`\`\`yaml
exporters:
  dirs: [/path/to/${name}/build]
\`\`\`

Sign it for hosts that set \`exporters.requireSignatures\`:

\`\`\`sh
bpfwasm exporters keygen --out ~/.bpfwasm                     # once: signing.key (0600) and signing.pub
bpfwasm exporters sign build/${name}.wasm --key ~/.bpfwasm/signing.key   # writes build/${name}.wasm.sig
bpfwasm exporters verify build/${name}.wasm --key ~/.bpfwasm/signing.pub
\`\`\`
`;
}
