// The collector's Node.js runtime metrics (prom-client's default metrics), copied into the
// series store on every scrape so each exposition format and /federate serve one source.
import { Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import gc from 'prom-client/lib/metrics/gc.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processCpuTotal from 'prom-client/lib/metrics/processCpuTotal.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import { EventLoopDelay, type DelaySummary } from './event-loop-delay.js';
import type { MetricKind, SeriesStore } from './store.js';

const OWNER = 'runtime';
/**
 * prom-client's default metrics (its collectDefaultMetrics) but its event-loop delay sampler, a
 * timer of its own: the delay is sampled by the collector's clock instead (`eventLoop`).
 */
const DEFAULT_METRICS = [
  processCpuTotal, processStartTime, osMemoryHeap, processOpenFileDescriptors, processMaxFileDescriptors,
  processResources, processHandles, processRequests, heapSizeAndUsed, heapSpacesSizeAndUsed, version, gc,
];

/** The event-loop delay gauges prom-client's sampler set, by the summary field each reports. */
const EVENT_LOOP_DELAY: readonly [keyof DelaySummary, string, string][] = [
  ['min', 'nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.'],
  ['max', 'nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.'],
  ['mean', 'nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.'],
  ['stddev', 'nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.'],
  ['p50', 'nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.'],
  ['p90', 'nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.'],
  ['p99', 'nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.'],
];
/** Least time between two reads of prom-client's values (~2.5 ms of CPU each here): a client polling /federate every millisecond read them on every request. */
const MIN_REFRESH_MS = 100;

/** prom-client gauges named like counters; promtool flags them, so they are left out. */
const SKIPPED = new Set(['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']);

/** prom-client's typings declare `type` as a numeric enum, but at run time it is the type's name. */
function kindOf(metric: { type: unknown }): MetricKind | undefined {
  const t = String(metric.type);
  return t === 'counter' || t === 'gauge' || t === 'histogram' ? t : undefined;
}

interface Family {
  id: number;
  kind: MetricKind;
  labelNames: string[];
}

export class RuntimeMetrics {
  private readonly registry = new Registry();
  private readonly families = new Map<string, Family>();

  /**
   * The event-loop delay: `tick()` it from a timer due every `clockMs`. prom-client's sampler, a
   * libuv timer apart from the JS ones, woke an idle collector 100 times a second at its 10 ms and
   * once a second at 1 s (issue #17); a timer the collector runs anyway samples it for free, once a
   * second: each scrape still gets its delay percentiles, and a short stall is caught less often.
   */
  readonly eventLoop: EventLoopDelay;

  constructor(private readonly store: SeriesStore, clockMs = 1000) {
    for (const register of DEFAULT_METRICS) register(this.registry);
    this.eventLoop = new EventLoopDelay(clockMs * 1e6);
    this.registerEventLoopDelay();
    // Families are declared on the first scrape (a histogram's bounds come with its values);
    // their names are held now, so no exporter loaded before that scrape can take one.
    for (const metric of this.registry.getMetricsAsArray()) {
      const kind = kindOf(metric);
      if (kind && !SKIPPED.has(metric.name)) store.reserve(OWNER, metric.name, kind);
    }
  }

  private refreshedAt = -Infinity;

  /** The delay gauges, read from `eventLoop` at each refresh (kept when no tick came since the last), and
   * nodejs_eventloop_lag_seconds as prom-client measures it: a setImmediate's wait, reported at the next refresh. */
  private registerEventLoopDelay(): void {
    const registers = [this.registry];
    let gauges: (readonly [keyof DelaySummary, Gauge])[] = [];
    // First in the registry: its collect sets the gauges below before they are read.
    const lag: Gauge = new Gauge({
      name: 'nodejs_eventloop_lag_seconds', help: 'Lag of event loop in seconds.', registers,
      collect: () => {
        const start = process.hrtime.bigint();
        setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9));
        const summary = this.eventLoop.take();
        if (summary) for (const [field, gauge] of gauges) gauge.set(summary[field]);
      },
    });
    gauges = EVENT_LOOP_DELAY.map(([field, name, help]) => [field, new Gauge({ name, help, registers })] as const);
  }

  /** Reads prom-client's current values into the store. Called once per scrape; at most every MIN_REFRESH_MS. */
  async refresh(): Promise<void> {
    const now = performance.now();
    if (now - this.refreshedAt < MIN_REFRESH_MS) return;
    this.refreshedAt = now;
    for (const metric of await this.registry.getMetricsAsJSON()) {
      if (SKIPPED.has(metric.name)) continue;
      const family = this.family(metric as MetricObjectWithValues<MetricValue<string>>);
      if (!family) continue;
      if (family.kind === 'histogram') this.copyHistogram(family, metric.values);
      else for (const v of metric.values) this.store.set(this.seriesOf(family, v.labels), v.value);
    }
  }

  private family(metric: MetricObjectWithValues<MetricValue<string>>): Family | undefined {
    const known = this.families.get(metric.name);
    if (known) return known;
    const kind = kindOf(metric);
    if (!kind) return undefined; // summaries: none among the default metrics
    const labelNames = [...new Set(metric.values.flatMap((v) => Object.keys(v.labels)))].filter((l) => l !== 'le');
    const buckets = kind === 'histogram'
      ? [...new Set(metric.values.map((v) => v.labels.le).filter((le) => le !== undefined && le !== '+Inf').map(Number))]
      : undefined;
    if (kind === 'histogram' && !buckets?.length) return undefined; // no observations yet: no bounds to declare
    const id = this.store.declare(OWNER, { name: metric.name, help: metric.help, kind, labelNames, buckets });
    const family = { id, kind, labelNames };
    this.families.set(metric.name, family);
    return family;
  }

  private seriesOf(family: Family, labels: Partial<Record<string, string | number>>): number {
    return this.store.series(family.id, family.labelNames.map((n) => String(labels[n] ?? '')));
  }

  /** prom-client reports each bucket, the sum and the count as separate values; regroup them per series. */
  private copyHistogram(family: Family, values: MetricValue<string>[]): void {
    const bySeries = new Map<number, { cumulative: number[]; sum: number; count: number }>();
    for (const v of values) {
      const sid = this.seriesOf(family, v.labels);
      let h = bySeries.get(sid);
      if (!h) bySeries.set(sid, (h = { cumulative: [], sum: 0, count: 0 }));
      const metricName = (v as { metricName?: string }).metricName ?? '';
      if (metricName.endsWith('_bucket')) h.cumulative.push(v.value);
      else if (metricName.endsWith('_sum')) h.sum = v.value;
      else if (metricName.endsWith('_count')) h.count = v.value;
    }
    for (const [sid, h] of bySeries) this.store.setHistogram(sid, h.cumulative, h.sum, h.count);
  }
}
