// The collector's Node.js runtime metrics (prom-client's default metrics), copied into the
// series store on every scrape so each exposition format and /federate serve one source.
import { collectDefaultMetrics, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { MetricKind, SeriesStore } from './store.js';

const OWNER = 'runtime';
/** How often the event-loop delay is sampled (nodejs_eventloop_lag_*): 15 samples per 15 s scrape. */
const EVENT_LOOP_SAMPLE_MS = 1000;
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

  constructor(private readonly store: SeriesStore) {
    // The event-loop delay sampler is a timer (libuv's, apart from the JS timers): at prom-client's
    // 10 ms it woke an idle collector 100 times a second, at 100 ms still 10 times, as many
    // main-thread wake-ups as the frames of an exec storm (issue #17). Once a second still gives
    // each scrape its delay percentiles, from fewer samples: a short stall is caught less often.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    // Families are declared on the first scrape (a histogram's bounds come with its values);
    // their names are held now, so no exporter loaded before that scrape can take one.
    for (const metric of this.registry.getMetricsAsArray()) {
      const kind = kindOf(metric);
      if (kind && !SKIPPED.has(metric.name)) store.reserve(OWNER, metric.name, kind);
    }
  }

  private refreshedAt = -Infinity;

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
