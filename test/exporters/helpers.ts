// Shared by the exporter tests: synthetic record batches laid out with the generated offsets,
// a store and host to load modules into, and reading series back by their labels.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { loadExporter as load, type Exporter, type ExporterHost } from '../../src/exporters/host/runtime.js';
import { encodeBatch, type RecordValues } from '../../src/testing/index.js';
import type { QuarantineEvent } from '../../src/logs/events.js';
import { escapeLabelValue, SeriesStore } from '../../src/metrics/store.js';
import { BUILD_DIR } from '../../scripts/build-exporters.mjs';

// One encoder for tests and for `bpfwasm exporters new` projects: the runtime's test kit.
export { encodeBatch, type RecordValues };

const running = new Set<Exporter>();

// Every exporter runs in a worker thread: stop the ones a test loaded when it ends.
afterEach(async () => {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((e) => e.close()));
});

/** Loads a module in its worker (src/exporters/runtime.ts), stopped after the test. */
export async function loadExporter(name: string, bytes: Uint8Array, host: ExporterHost): Promise<Exporter> {
  const e = await load(name, bytes, host);
  running.add(e);
  return e;
}

/** Hands one batch to an exporter and waits until it was applied to the store. */
export async function run(exporter: Exporter, recordType: number, payload: Uint8Array, count: number): Promise<void> {
  exporter.onBatch(recordType, payload, count);
  await exporter.flush();
}

/** Encodes `records` of `type` and hands them to the exporter as one batch, applied when it resolves. */
export async function feed(exporter: Exporter, type: number, records: RecordValues[]): Promise<void> {
  await run(exporter, type, encodeBatch(type, records), records.length);
}

/** The exporter returned no error, did not trap, and the host refused none of its updates. */
export function expectClean(exporter: Exporter): void {
  expect({ errors: exporter.errors, traps: exporter.traps, rejectedOps: exporter.rejectedOps, lastError: exporter.lastError })
    .toEqual({ errors: 0, traps: 0, rejectedOps: 0, lastError: '' });
}

/** Loads a built-in exporter as `npm run build:exporters` built it (exporters/build/NAME.wasm). */
export async function loadBuilt(name: string, host: TestHost): Promise<{ exporter: Exporter; host: TestHost }> {
  return { exporter: await loadExporter(name, readFileSync(join(BUILD_DIR, `${name}.wasm`)), host), host };
}

export interface TestHost extends ExporterHost {
  readonly logs: { exporter: string; level: number; msg: string; fields?: Record<string, unknown> }[];
  readonly quarantines: QuarantineEvent[];
}

export function testHost(opts: {
  maxSeries?: number; maxLabelValueBytes?: number; maxBatchBytes?: number; maxSeriesPerMetric?: number;
  limits?: ExporterHost['limits'];
  /** Names for the `resolve` import: kind → id (as a decimal string) → name. */
  names?: Record<number, Record<string, string>>;
  /** Settings for the `config` import, per exporter name. */
  settings?: Record<string, Record<string, string>>;
} = {}): TestHost {
  const logs: TestHost['logs'] = [];
  const quarantines: QuarantineEvent[] = [];
  return {
    store: new SeriesStore({
      maxSeriesPerOwner: opts.maxSeries ?? 1000, maxLabelValueBytes: opts.maxLabelValueBytes ?? 128,
      maxSeriesPerMetric: opts.maxSeriesPerMetric,
    }),
    log: (exporter, level, msg, fields) => logs.push({ exporter, level, msg, ...(fields ? { fields } : {}) }),
    quarantined: (q) => quarantines.push(q),
    resolve: (kind, id) => opts.names?.[kind]?.[String(id)],
    settings: (exporter) => opts.settings?.[exporter],
    maxBatchBytes: opts.maxBatchBytes ?? 65536,
    limits: opts.limits,
    logs,
    quarantines,
  };
}

/** The series id of `metric` with exactly these labels, or undefined. */
export function seriesId(store: SeriesStore, metric: string, labels: Record<string, string>): number | undefined {
  const family = store.families.find((f) => f.spec.name === metric);
  if (!family) throw new Error(`no metric ${metric}`);
  const rendered = family.spec.labelNames.map((n) => `${n}="${escapeLabelValue(labels[n] ?? '')}"`).join(',');
  return [...family.series].find((id) => store.seriesLabels[id] === rendered);
}

/** A counter or gauge value by labels; 0 when the series does not exist (never incremented). */
export function valueOf(store: SeriesStore, metric: string, labels: Record<string, string>): number {
  const id = seriesId(store, metric, labels);
  return id === undefined ? 0 : store.value(id);
}

export function freshTmpDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `bpfwasm-${prefix}-`));
}

/**
 * Scrapes `url` every `everyMs` until stopped, each answer checked to be 200 (the first
 * requests, which compile the route and the serializer, are not measured). `stop` checks the
 * scrapes answered within 100 ms: on a CI machine shared by other jobs (load average ~25 on
 * 2 CPUs) a lone scrape can miss it by being descheduled, faults or not, so 90% within 100 ms
 * and none near a deadline (a module blocking this thread would stall it for good).
 */
export async function scrapeLoop(url: string, everyMs: number): Promise<{ stop(): Promise<void> }> {
  for (let i = 0; i < 5; i++) await (await fetch(url)).text();
  const latencies: number[] = [];
  let scraping = true;
  const scraper = (async () => {
    while (scraping) {
      const t0 = performance.now();
      const res = await fetch(url);
      expect(res.status).toBe(200);
      await res.text();
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      scraping = false;
      await scraper;
      const shown = `${latencies.length} scrapes (ms): ${latencies.map((l) => l.toFixed(0)).join(' ')}`;
      expect(latencies.length).toBeGreaterThan(3);
      expect(latencies.filter((l) => l < 100).length / latencies.length, shown).toBeGreaterThanOrEqual(0.9);
      expect(Math.max(...latencies), shown).toBeLessThan(250);
    },
  };
}
