// `bpfwasm/testing`: a kit for testing an exporter outside the collector, in any language
// (exporters/ABI.md, "Testing"): build it as `bpfwasm exporters build` does, load it into the
// real exporter runtime with an in-memory series store, feed it synthetic batches laid out with
// the generated record offsets or replay a recording, and read series back. For tests only:
// nothing the collector runs imports it (test/testing/exports.test.ts checks).
import { HEADER_FIELDS, RECORDS, RecordType, type FieldLayout } from '../ingest/generated/events.js';
import { escapeLabelValue, SeriesStore } from '../metrics/store.js';
import { withModuleExplanation } from '../recording/replay.js';
import { loadExporter, type Exporter, type ExporterHost } from '../exporters/host/runtime.js';
import { LogLevel } from '../exporters/abi.js';
import { quarantineRecord } from '../logs/events.js';

export { RecordType };
export { buildExporter, SDK_DIRS } from '../exporters/build.js';
export { replay, type ReplayOptions, type ReplayResult } from '../recording/replay.js';

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
  /** Every log line the module wrote (`fields` when it was a JSON object), and each quarantine as its `exporter_quarantined` record. */
  readonly logs: { level: number; msg: string; fields?: Record<string, unknown> }[];
  /** Encodes `records` of `recordType`, hands them to the exporter as one batch and resolves once its updates are applied. */
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
    quarantined: (q) => {
      const record = quarantineRecord(q);
      logs.push({ level: LogLevel.WARN, msg: record.msg, fields: record.fields });
    },
    resolve: (kind, id) => opts.names?.[kind]?.[String(id)],
    settings: () => opts.settings,
    maxBatchBytes: 1 << 16,
  };
  let exporter: Exporter;
  try {
    exporter = await loadExporter(name, wasm, host);
  } catch (e) {
    throw withModuleExplanation(e, logs);
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

/** `t.feed(...)` as a function: runs `records` of `recordType` through `t` as one batch. */
export function feed(t: LoadedForTest, recordType: number, records: readonly RecordValues[]): Promise<void> {
  return t.feed(recordType, records);
}

/** `t.value(...)` as a function: a counter's or gauge's value by labels (0 when never created). */
export function value(t: LoadedForTest, metric: string, labels?: Record<string, string>): number {
  return t.value(metric, labels);
}

/** `t.histogram(...)` as a function: cumulative bucket counts (last is +Inf), sum and count by labels. */
export function histogram(t: LoadedForTest, metric: string, labels?: Record<string, string>): { cumulative: number[]; sum: number; count: number } {
  return t.histogram(metric, labels);
}
