// Per-exporter self metrics, kept in the host's store (owner "collector") and updated as
// batches complete, so a scrape reads them without asking any worker.
import { Meter, type Counter, type CounterSeries, type Gauge, type GaugeSeries, type Histogram, type HistogramSeries } from '../../metrics/meter.js';
import type { SeriesStore } from '../../metrics/store.js';
import { onThreadTerminated } from './thread.js';

/** The label that tells a shadow candidate's series from the current version's. */
export const VERSION_LABEL = 'bpfwasm_exporter_version';

/** `off`: a built-in exporter not loaded because its sensor failed to load (it would get no events). */
export const EXPORTER_STATES = ['loading', 'loaded', 'quarantined', 'shadow', 'failed', 'off'] as const;
export type ExporterState = (typeof EXPORTER_STATES)[number];

export const ERROR_KINDS = ['trap', 'timeout', 'crash', 'returned_error', 'rejected_update', 'rejected_call'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** Why a batch never reached an exporter's module. */
export const DROP_REASONS = ['queue_full', 'not_running', 'aborted'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Batch durations from 10 µs to 2.5 s: a batch is normally well under a millisecond. */
const DURATION_BUCKETS = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Counts the watchdog's thread terminations in `store` until the returned function is called. */
export function countThreadTerminations(store: SeriesStore): () => void {
  const terminated = new Meter(store).counter('bpfwasm_exporter_threads_terminated_total',
    'Shared exporter threads terminated because a module\'s code did not stop past its deadline; their other exporters were loaded again').series();
  return onThreadTerminated(() => terminated.inc());
}

/** The self metric families, each labelled `exporter` first (and `bpfwasm_exporter_version` last when versioned). */
interface ExporterFamilies {
  readonly batches: Counter;
  readonly events: Counter;
  readonly dropped: Counter;
  readonly duration: Histogram;
  readonly errors: Counter;
  readonly restarts: Counter;
  readonly state: Gauge;
  readonly queued: Gauge;
  readonly memory: Gauge;
  readonly logsDropped: Counter;
  readonly seriesRefused: Counter;
  readonly series: Gauge;
  readonly expired: Counter;
  readonly up: Gauge;
}

export class ExporterMetrics {
  private readonly families: ExporterFamilies;

  /** `versioned`: every series also carries the module's `bpfwasm_exporter_version` (shadow candidates). */
  constructor(private readonly store: SeriesStore, private readonly versioned = false) {
    const m = new Meter(store);
    const labels = (...names: string[]) => (versioned ? [...names, VERSION_LABEL] : names);
    this.families = {
      batches: m.counter('bpfwasm_exporter_batches_total', 'Batches each exporter completed', labels('exporter')),
      events: m.counter('bpfwasm_exporter_events_total', 'Event records in the batches each exporter completed', labels('exporter')),
      dropped: m.counter('bpfwasm_exporter_dropped_events_total',
        'Event records that never reached an exporter: queue_full (its worker was behind), not_running (loading, quarantined or restarting), aborted (in flight when it was stopped or its thread terminated)',
        labels('exporter', 'reason')),
      duration: m.histogram('bpfwasm_exporter_batch_duration_seconds', 'Time each exporter spent in one batch call, in its worker', labels('exporter'), DURATION_BUCKETS),
      errors: m.counter('bpfwasm_exporter_errors_total',
        'Exporter failures by kind: trap, timeout (batch or init deadline overrun), crash (worker died), returned_error, rejected_update, rejected_call',
        labels('exporter', 'kind')),
      restarts: m.counter('bpfwasm_exporter_restarts_total', 'Times an exporter was restarted after being quarantined', labels('exporter')),
      state: m.gauge('bpfwasm_exporter_state', 'Each exporter\'s state: 1 for the current one of loading, loaded, quarantined, shadow, failed, off (its sensor is off)', labels('exporter', 'state')),
      queued: m.gauge('bpfwasm_exporter_queued_batches', 'Batches handed to an exporter\'s worker and not yet completed', labels('exporter')),
      memory: m.gauge('bpfwasm_exporter_memory_bytes', 'What each exporter\'s instance holds: its linear memory, plus its tables (at their maximum), globals and segments', labels('exporter')),
      logsDropped: m.counter('bpfwasm_exporter_logs_dropped_total', 'Exporter log lines dropped by the per-exporter rate limit', labels('exporter')),
      seriesRefused: m.counter('bpfwasm_exporter_series_refused_total', 'Series an exporter asked for past a series or label limit, refused', labels('exporter')),
      series: m.gauge('bpfwasm_exporter_series', 'Series each exporter owns', labels('exporter')),
      expired: m.counter('bpfwasm_exporter_series_expired_total', 'Series removed after metrics.seriesTtlSeconds without an update', labels('exporter')),
      up: m.gauge('bpfwasm_exporter_up', 'Whether each exporter is loaded and running (1) or not (0)', labels('exporter')),
    };
  }

  /** The series of one exporter, interned once so the per-batch path is a few slot writes. */
  of(exporter: string, version = ''): ExporterSeries {
    return new ExporterSeries(this.store, this.families, exporter, this.versioned ? [version] : []);
  }
}

export class ExporterSeries {
  readonly batches: CounterSeries;
  readonly events: CounterSeries;
  readonly duration: HistogramSeries;
  readonly restarts: CounterSeries;
  readonly queued: GaugeSeries;
  readonly memory: GaugeSeries;
  readonly logsDropped: CounterSeries;
  readonly seriesRefused: CounterSeries;
  readonly series: GaugeSeries;
  readonly expired: CounterSeries;
  readonly up: GaugeSeries;
  private readonly errors: Record<ErrorKind, CounterSeries>;
  private readonly drops: Record<DropReason, CounterSeries>;
  private readonly states: Record<ExporterState, GaugeSeries>;

  /** Every series of this exporter's self metrics, to release them when it is gone. */
  private readonly ids: number[] = [];

  /** `tail`: label values after the family's own (the version of a shadow candidate). */
  constructor(private readonly store: SeriesStore, f: ExporterFamilies, private readonly owner: string, tail: readonly string[]) {
    const own = <S extends { readonly id: number }>(family: { series(...labelValues: string[]): S }, ...labels: string[]): S => {
      const s = family.series(owner, ...labels, ...tail);
      this.ids.push(s.id);
      return s;
    };
    this.batches = own(f.batches);
    this.events = own(f.events);
    this.duration = own(f.duration);
    this.restarts = own(f.restarts);
    this.queued = own(f.queued);
    this.memory = own(f.memory);
    this.logsDropped = own(f.logsDropped);
    this.seriesRefused = own(f.seriesRefused);
    this.series = own(f.series);
    this.expired = own(f.expired);
    this.up = own(f.up);
    this.errors = Object.fromEntries(ERROR_KINDS.map((k) => [k, own(f.errors, k)])) as Record<ErrorKind, CounterSeries>;
    this.drops = Object.fromEntries(DROP_REASONS.map((r) => [r, own(f.dropped, r)])) as Record<DropReason, CounterSeries>;
    this.states = Object.fromEntries(EXPORTER_STATES.map((s) => [s, own(f.state, s)])) as Record<ExporterState, GaugeSeries>;
  }

  batch(events: number, seconds: number): void {
    this.batches.inc();
    this.events.inc(events);
    this.duration.observe(seconds);
  }

  error(kind: ErrorKind, n = 1): void {
    if (n) this.errors[kind].inc(n);
  }

  dropped(reason: DropReason, events: number): void {
    this.drops[reason].inc(events);
  }

  add(series: CounterSeries, n: number): void {
    if (n) series.inc(n);
  }

  set(series: GaugeSeries, value: number): void {
    series.set(value);
  }

  state(state: ExporterState): void {
    for (const s of EXPORTER_STATES) this.states[s].set(s === state ? 1 : 0);
    this.up.set(state === 'loaded' || state === 'shadow' ? 1 : 0);
  }

  /** Removes these series from the store (a shadow candidate that ended, an unloaded exporter). */
  release(): void {
    this.store.free(this.ids.splice(0));
  }

  /** Refreshes the values read from the store itself (series owned, refusals). */
  refresh(): void {
    this.series.set(this.store.seriesOf(this.owner));
    this.seriesRefused.setTotal(this.store.refusedSeries(this.owner));
  }
}
