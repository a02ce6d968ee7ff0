// Issue #16 (series store, self metrics, exposition): exporters that declare colliding or
// reserved names, hostile label values or overflowing counters, refused loads, and a tiny
// series budget. Each is refused with a clear error or counted, the collector keeps running,
// and /metrics, /federate and OpenMetrics stay valid for promtool and the reference parser.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExporterRegistry } from '../../src/exporters/host/registry.js';
import { buildServer } from '../../src/http/server.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.js';
import { RuntimeMetrics } from '../../src/metrics/runtime-metrics.js';
import { BUILD_DIR, buildAll, buildC } from '../../scripts/build-exporters.mjs';
import { parseOpenMetrics, promtoolCheck } from '../support/exposition-check.js';
import { encodeBatch, freshTmpDir, seriesId, testHost, valueOf, type TestHost } from './helpers.js';

const EXEC = RecordType.process_exec;
const FIXTURES = join(import.meta.dirname, 'fixtures');
const out = freshTmpDir('hostile');
let declares: Uint8Array;
let processWasm: Uint8Array;
let initFails: Uint8Array;

beforeAll(async () => {
  await Promise.all([
    buildAll(),
    buildC([join(FIXTURES, 'declares.c')], join(out, 'declares.wasm')),
    buildC([join(FIXTURES, 'init_fails.c')], join(out, 'init_fails.wasm')),
  ]);
  declares = readFileSync(join(out, 'declares.wasm'));
  initFails = readFileSync(join(out, 'init_fails.wasm'));
  processWasm = readFileSync(join(BUILD_DIR, 'process.wasm'));
});

interface Collector {
  readonly host: TestHost;
  readonly registry: ExporterRegistry;
  /** Per exporter name: the settings `declares.c` reads (mutable between loads). */
  readonly settings: Record<string, Record<string, string>>;
  /** Hands `n` process_exec records to every subscriber and waits until they are applied. */
  execs(n: number): Promise<void>;
  /** Scrapes /metrics (text and OpenMetrics) and /federate; each must answer 200 and parse. */
  scrapeValid(): Promise<string>;
}

const running: { registry: ExporterRegistry; app: FastifyInstance }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.registry.close();
    await r.app.close();
  }
});

/** The collector's metric set around a registry: pipeline, runtime and exporter self metrics in one store. */
async function collector(maxSeries: number): Promise<Collector> {
  const settings: Record<string, Record<string, string>> = {};
  const host = testHost({ maxSeries, settings, maxLabelValueBytes: 64 });
  new PipelineMetrics(host.store);
  const runtime = new RuntimeMetrics(host.store);
  const registry = new ExporterRegistry(host);
  const app = buildServer({
    store: host.store,
    refresh: async () => {
      registry.refreshMetrics();
      await runtime.refresh();
    },
    readiness: () => ({ ready: true, waiting: [] }),
  });
  running.push({ registry, app });
  const get = async (url: string, accept?: string) => {
    const res = await app.inject({ method: 'GET', url, headers: accept ? { accept } : {} });
    expect({ url, status: res.statusCode, body: res.statusCode === 200 ? '' : res.body }).toEqual({ url, status: 200, body: '' });
    return res.body;
  };
  return {
    host, registry, settings,
    execs: async (n) => {
      const records = Array.from({ length: n }, (_, i) => ({ pid: 100 + i, tgid: 100 + i, comm: 'sh' }));
      registry.dispatch(EXEC, encodeBatch(EXEC, records), n);
      await registry.flush();
    },
    scrapeValid: async () => {
      const text = await get('/metrics');
      const check = promtoolCheck(text);
      expect(check.status, check.output).not.toBe(1);
      expect(check.output).not.toMatch(/error while linting|parsing error/);
      const om = await parseOpenMetrics(await get('/metrics', 'application/openmetrics-text; version=1.0.0'));
      expect(om.error).toBeUndefined();
      const federated = await get('/federate?match[]={__name__=~".%2B"}');
      expect(promtoolCheck(federated).status).not.toBe(1);
      return text;
    },
  };
}

const errorsOf = (c: Collector, exporter: string, kind: string) => valueOf(c.host.store, 'bpfwasm_exporter_errors_total', { exporter, kind });

describe('the collector\'s own series and a small exporter budget', () => {
  it('runs with exporters.maxSeriesPerExporter far below its own series: self metrics are outside the budget (case 1)', async () => {
    const c = await collector(5);
    await c.registry.install('process', processWasm);
    await c.execs(3);
    const store = c.host.store;
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'sh' })).toBe(3);
    expect(valueOf(store, 'bpfwasm_exporter_events_total', { exporter: 'process' })).toBe(3);
    expect(store.histogram(seriesId(store, 'bpfwasm_exporter_batch_duration_seconds', { exporter: 'process' })!).count).toBe(1);
    expect(store.seriesOf('collector')).toBeGreaterThan(5);
    await c.scrapeValid();
  });

  it('counts an exporter\'s refused series instead of crashing when its own budget runs out (case 1)', async () => {
    const c = await collector(1);
    c.settings.two = { kind: 'c', name: 'two_total', labels: 'k', v0: 'a' };
    await c.registry.install('two', declares);
    await c.execs(1);
    c.settings.two = { kind: 'c', name: 'two_total', labels: 'k', v0: 'b' };
    await c.registry.install('two', declares); // a swap: same store series, the new label set is past the budget
    await c.execs(2);
    await c.scrapeValid();
    expect(valueOf(c.host.store, 'bpfwasm_exporter_series_refused_total', { exporter: 'two' })).toBe(1);
    expect(c.registry.describe().find((e) => e.name === 'two')!.current!.state).toBe('loaded');
  });
});

describe('refused loads keep nothing (case 2)', () => {
  it('leaves the store as it was after many refused loads under new names, and a valid exporter then runs', async () => {
    const c = await collector(100);
    await c.scrapeValid();
    const store = c.host.store;
    const baseline = { series: store.seriesCount, families: store.families.map((f) => f.spec.name) };
    const refusals = 40;
    for (let i = 0; i < refusals; i++) {
      const name = `broken${i}`;
      // Half declare a metric in init and then fail; half fail before declaring anything.
      c.settings[name] = { kind: 'h', name: `broken${i}_seconds`, labels: 'k', fail_after_declare: '1' };
      await expect(c.registry.install(name, i % 2 ? declares : initFails)).rejects.toMatchObject({ code: 'EXPORTER_INIT' });
    }
    // One series counts them all, by code: nothing is kept per refused name.
    expect({ series: store.seriesCount, families: store.families.map((f) => f.spec.name) }).toEqual({ ...baseline, series: baseline.series + 1 });
    expect(valueOf(store, 'bpfwasm_exporter_loads_refused_total', { code: 'EXPORTER_INIT' })).toBe(refusals);
    await c.registry.install('process', processWasm);
    await c.execs(1);
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'sh' })).toBe(1);
    await c.scrapeValid();
  });

  it('drops what a refused new version declared, and keeps the running version\'s series', async () => {
    const c = await collector(100);
    c.settings.sw = { kind: 'c', name: 'sw_total' };
    await c.registry.install('sw', declares);
    await c.execs(2);
    const series = c.host.store.seriesCount;
    c.settings.sw = { kind: 'g', name: 'sw_new', fail_after_declare: '1' };
    await expect(c.registry.install('sw', declares)).rejects.toMatchObject({ code: 'EXPORTER_INIT' });
    expect(c.host.store.families.some((f) => f.spec.name === 'sw_new')).toBe(false);
    // No new series: the collector's count of rejections exists, at 0, since the first load.
    expect(c.host.store.seriesCount).toBe(series);
    expect(valueOf(c.host.store, 'bpfwasm_exporter_reloads_total', { exporter: 'sw', result: 'rejected' })).toBe(1);
    await c.execs(1);
    expect(valueOf(c.host.store, 'sw_total', {})).toBe(3);
    expect(valueOf(c.host.store, 'bpfwasm_exporter_up', { exporter: 'sw' })).toBe(1);
  });
});

describe('a new version that changes a kept metric (exporters/ABI.md)', () => {
  it('is refused as EXPORTER_INIT: declare answered -7 (ECONFLICT), and the message names the metric', async () => {
    const c = await collector(100);
    c.settings.shape = { kind: 'c', name: 'shape_total', labels: 'a' };
    await c.registry.install('shape', declares);
    c.settings.shape = { kind: 'c', name: 'shape_total', labels: 'a,b' };
    const refused = c.registry.install('shape', declares);
    await expect(refused).rejects.toMatchObject({ code: 'EXPORTER_INIT' });
    await expect(refused).rejects.toThrow(/^shape: bpfwasm_init returned -7 \(last refused call: .*shape_total/);
    expect(valueOf(c.host.store, 'bpfwasm_exporter_reloads_total', { exporter: 'shape', result: 'rejected' })).toBe(1);
  });
});

describe('reserved and colliding names (cases 4 and 8)', () => {
  it('refuses an exporter that declares a runtime metric before its first scrape, and /metrics stays 200 (case 4)', async () => {
    const c = await collector(100);
    c.settings.rss = { kind: 'g', name: 'process_resident_memory_bytes' };
    await expect(c.registry.install('rss', declares)).rejects.toThrow(
      /bpfwasm_init returned -7 \(last refused call: metric: metric process_resident_memory_bytes is reserved for the collector's own metric/);
    const text = await c.scrapeValid();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).not.toContain('declared from settings');
  });

  it.each([
    ['gauge bpfwasm_exporter_batches, the OpenMetrics family of a self metric', { kind: 'g', name: 'bpfwasm_exporter_batches' }],
    ['gauge nodejs_gc_duration_seconds_count, a runtime histogram\'s sample', { kind: 'g', name: 'nodejs_gc_duration_seconds_count' }],
    ['counter bpfwasm_helper_up_total, whose OpenMetrics family is the gauge bpfwasm_helper_up', { kind: 'c', name: 'bpfwasm_helper_up_total' }],
  ])('refuses %s', async (_what, settings) => {
    const c = await collector(100);
    c.settings.x = settings;
    await expect(c.registry.install('x', declares)).rejects.toThrow(/returned -7 .*the collector's own metric/);
    await c.scrapeValid();
  });

  it('refuses an exporter named like the collector\'s own metric owners', async () => {
    const c = await collector(100);
    for (const name of ['collector', 'runtime']) {
      await expect(c.registry.install(name, processWasm)).rejects.toMatchObject({ code: 'EXPORTER_NAME_INVALID' });
    }
  });

  it.each([
    ['gauge X_count beside histogram X', { kind: 'h', name: 'lat' }, { kind: 'g', name: 'lat_count' }, 'lat_count'],
    ['gauge X_bucket{le} beside histogram X', { kind: 'h', name: 'x' }, { kind: 'g', name: 'x_bucket', labels: 'le', v0: '+Inf' }, 'x_bucket'],
    ['gauge bpfwasm_process_exec beside counter bpfwasm_process_exec_total', undefined, { kind: 'g', name: 'bpfwasm_process_exec' }, 'bpfwasm_process_exec'],
  ])('refuses a %s at declaration (case 8)', async (_what, first, second, shared) => {
    const c = await collector(100);
    if (first) {
      c.settings.first = first;
      await c.registry.install('first', declares);
    } else {
      await c.registry.install('process', processWasm);
    }
    await c.execs(2);
    c.settings.second = second;
    await expect(c.registry.install('second', declares)).rejects.toThrow(new RegExp(`returned -7 .*would be exposed as ${shared}, which`));
    await c.scrapeValid();
  });
});

describe('hostile label values and values (case 8)', () => {
  it.each([
    ['NUL in the first value', 'a\u0000b', 'c', 'U+0000'],
    ['NUL in the second value', 'a', 'b\u0000c', 'U+0000'],
    ['CR', 'a\rb', 'c', 'U+000D'],
  ])('refuses a label set with %s (EUTF8, not label text), counts it, and writes nothing raw', async (_what, v0, v1, code) => {
    const c = await collector(100);
    c.settings.nul = { kind: 'c', name: 'nul_total', labels: 'x,y', v0, v1 };
    await c.registry.install('nul', declares);
    await c.execs(1);
    const e = c.registry.list().find((x) => x.name === 'nul')!;
    expect(e.lastError).toBe(`series: nul_total: label value contains control character ${code} at offset 1 (-5)`);
    expect(e.rejectedCalls).toBe(1);
    const text = await c.scrapeValid();
    expect(errorsOf(c, 'nul', 'rejected_call')).toBe(1);
    expect(c.host.store.families.find((f) => f.spec.name === 'nul_total')!.series.size).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the exposition must hold no NUL
    expect(text).not.toMatch(/[\u0000\r]/);
  });

  it('lets a built-in exporter count a process whose comm holds control bytes, under ? (the SDK fallback)', async () => {
    const c = await collector(100);
    await c.registry.install('process', processWasm);
    const comm = new Uint8Array([0x65, 0x76, 0x0d, 0x1b, 0x69, 0x6c]); // ev<CR><ESC>il
    c.registry.dispatch(EXEC, encodeBatch(EXEC, [{ pid: 7, tgid: 7, comm }]), 1);
    await c.registry.flush();
    expect(valueOf(c.host.store, 'bpfwasm_process_exec_total', { comm: 'ev??il' })).toBe(1);
    expect(await c.scrapeValid()).toContain('bpfwasm_process_exec_total{comm="ev??il"} 1\n');
  });

  it('refuses, counts and explains an add that would overflow a counter to +Inf', async () => {
    const c = await collector(100);
    c.settings.big = { kind: 'c', name: 'big_total', step: 'huge' };
    await c.registry.install('big', declares);
    await c.execs(2); // 1e308 twice: the second would make +Inf
    const store = c.host.store;
    expect(valueOf(store, 'big_total', {})).toBe(1e308);
    const e = c.registry.list().find((x) => x.name === 'big')!;
    expect(e.rejectedOps).toBe(1);
    expect(e.lastError).toBe('update: big_total would overflow to a non-finite value; refused');
    expect(errorsOf(c, 'big', 'rejected_update')).toBe(1);
    const text = await c.scrapeValid();
    expect(text).toContain('big_total 1e+308\n');
  });

  it('refuses an observation that would overflow a histogram\'s sum', async () => {
    const c = await collector(100);
    c.settings.bigh = { kind: 'h', name: 'bigh_seconds', step: 'huge' };
    await c.registry.install('bigh', declares);
    await c.execs(3);
    expect(c.host.store.histogram(seriesId(c.host.store, 'bigh_seconds', {})!)).toEqual({ cumulative: [0, 0, 1], sum: 1e308, count: 1 });
    expect(errorsOf(c, 'bigh', 'rejected_update')).toBe(2);
    await c.scrapeValid();
  });
});
