// A kit for testing an exporter outside the collector: build it as `npm run build:exporters`
// would, load it into the real exporter runtime with an in-memory series store, feed it
// synthetic batches laid out with the generated record offsets, and read series back.
// Used by the projects `bpfwasm exporters new` scaffolds (their test imports this file from
// the installed bpfwasm) and by `bpfwasm exporters build`.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../config.js';
import { BpfwasmError } from '../errors.js';
import { HEADER_FIELDS, RECORDS, RecordType, type FieldLayout } from '../ingest/generated/events.js';
import { escapeLabelValue, SeriesStore } from '../metrics/store.js';
import { loadExporter, type Exporter, type ExporterHost } from './host/runtime.js';

export { RecordType };

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

export type RecordValues = { comm?: string | Uint8Array } & Record<string, number | bigint | string | Uint8Array | undefined>;

/** Encodes `records` of one type exactly as the helper frames them (fields not given are 0). */
export function encodeBatch(recordType: number, records: readonly RecordValues[]): Uint8Array {
  const layout = RECORDS.find((r) => r.id === recordType);
  if (!layout) throw new Error(`no record type ${recordType}`);
  const bytes = new Uint8Array(layout.size * records.length);
  const view = new DataView(bytes.buffer);
  const fields: readonly FieldLayout[] = [...HEADER_FIELDS, ...layout.fields];
  records.forEach((values, i) => {
    const all: RecordValues = { ...values, type: recordType, size: layout.size };
    for (const f of fields) {
      const v = all[f.name];
      if (v === undefined) continue;
      const at = i * layout.size + f.offset;
      if (f.type === 'chars' || f.type === 'bytes') {
        bytes.set((typeof v === 'string' ? new TextEncoder().encode(v) : (v as Uint8Array)).subarray(0, f.size), at);
      } else if (f.type === 'u8') view.setUint8(at, Number(v));
      else if (f.type === 'u16') view.setUint16(at, Number(v), true);
      else if (f.type === 'u32') view.setUint32(at, Number(v), true);
      else if (f.type === 's32') view.setInt32(at, Number(v), true);
      else if (f.type === 'u64') view.setBigUint64(at, BigInt(v as number | bigint), true);
      else if (f.type === 's64') view.setBigInt64(at, BigInt(v as number | bigint), true);
      else throw new Error(`cannot encode a ${f.type} field`);
    }
  });
  return bytes;
}

export interface TestOptions {
  /** Settings the module reads through the `config` import. */
  settings?: Record<string, string>;
  /** Names behind the `resolve` import: kind → id (decimal string) → name. */
  names?: Record<number, Record<string, string>>;
  maxSeries?: number;
}

export interface LoadedForTest {
  readonly exporter: Exporter;
  readonly store: SeriesStore;
  /** Every log line the module wrote; `fields` when it was a JSON object. */
  readonly logs: { level: number; msg: string; fields?: Record<string, unknown> }[];
  /** Encodes `records` of `recordType` and runs them as one batch. */
  /** Hands the records to the exporter as one batch and resolves once its updates are applied. */
  feed(recordType: number, records: readonly RecordValues[]): Promise<void>;
  /** A counter's or gauge's value by labels (0 when the series was never created). */
  value(metric: string, labels?: Record<string, string>): number;
  /** A histogram by labels: cumulative bucket counts (last is +Inf), sum and count. */
  histogram(metric: string, labels?: Record<string, string>): { cumulative: number[]; sum: number; count: number };
}

/** Loads a built module into the exporter runtime with an in-memory store. Throws what the collector would refuse it with. */
export async function loadForTest(name: string, wasm: Uint8Array, opts: TestOptions = {}): Promise<LoadedForTest> {
  const store = new SeriesStore({ maxSeriesPerOwner: opts.maxSeries ?? 10_000, maxLabelValueBytes: 1024 });
  const logs: LoadedForTest['logs'] = [];
  const host: ExporterHost = {
    store,
    log: (_exporter, level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    resolve: (kind, id) => opts.names?.[kind]?.[String(id)],
    settings: () => opts.settings,
    maxBatchBytes: 1 << 16,
  };
  let exporter: Exporter;
  try {
    exporter = await loadExporter(name, wasm, host);
  } catch (e) {
    // The collector logs the module's own explanation beside the refusal: keep them together here.
    const said = logs.filter((l) => l.level >= 3).map((l) => l.msg).join('; ');
    if (!said || !(e instanceof BpfwasmError)) throw e;
    throw new BpfwasmError(e.code, `${e.message} (it logged: ${said})`, { cause: e });
  }
  const seriesOf = (metric: string, labels: Record<string, string>) => {
    const family = store.families.find((f) => f.spec.name === metric);
    if (!family) throw new Error(`${name} declared no metric ${metric}`);
    const rendered = family.spec.labelNames.map((n) => `${n}="${escapeLabelValue(labels[n] ?? '')}"`).join(',');
    return [...family.series].find((id) => store.seriesLabels[id] === rendered);
  };
  return {
    exporter,
    store,
    logs,
    feed: async (recordType, records) => {
      exporter.onBatch(recordType, encodeBatch(recordType, records), records.length);
      await exporter.flush(); // it runs in a worker: wait until its updates reached the store
    },
    value: (metric, labels = {}) => {
      const id = seriesOf(metric, labels);
      return id === undefined ? 0 : store.value(id);
    },
    histogram: (metric, labels = {}) => {
      const id = seriesOf(metric, labels);
      if (id === undefined) throw new Error(`${metric} has no series ${JSON.stringify(labels)}`);
      return store.histogram(id);
    },
  };
}
