// Per-exporter self metrics, kept in the host's store (owner "collector") and updated as
// batches complete, so a scrape reads them without asking any worker.
import type { SeriesStore } from '../../metrics/store.js';
import { onThreadTerminated } from './thread.js';

const OWNER = 'collector';

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
  const family = store.declare(OWNER, {
    name: 'bpfwasm_exporter_threads_terminated_total', kind: 'counter', labelNames: [],
    help: 'Shared exporter threads terminated because a module\'s code did not stop past its deadline; their other exporters were loaded again',
  });
  const id = store.series(family, []);
  return onThreadTerminated(() => store.add(id, 1));
}

export class ExporterMetrics {
  private readonly fam: Record<string, number> = {};

  /** `versioned`: every series also carries the module's `bpfwasm_exporter_version` (shadow candidates). */
  constructor(private readonly store: SeriesStore, private readonly versioned = false) {
    const declare = (name: string, kind: 'counter' | 'gauge' | 'histogram', help: string, labelNames: string[], buckets?: number[]) =>
      (this.fam[name] = store.declare(OWNER, { name, help, kind, labelNames: versioned ? [...labelNames, VERSION_LABEL] : labelNames, buckets }));
    declare('bpfwasm_exporter_batches_total', 'counter', 'Batches each exporter completed', ['exporter']);
    declare('bpfwasm_exporter_events_total', 'counter', 'Event records in the batches each exporter completed', ['exporter']);
    declare('bpfwasm_exporter_dropped_events_total', 'counter',
      'Event records that never reached an exporter: queue_full (its worker was behind), not_running (loading, quarantined or restarting), aborted (in flight when it was stopped or its thread terminated)',
      ['exporter', 'reason']);
    declare('bpfwasm_exporter_batch_duration_seconds', 'histogram', 'Time each exporter spent in one batch call, in its worker', ['exporter'], DURATION_BUCKETS);
    declare('bpfwasm_exporter_errors_total', 'counter',
      'Exporter failures by kind: trap, timeout (batch or init deadline overrun), crash (worker died), returned_error, rejected_update, rejected_call',
      ['exporter', 'kind']);
    declare('bpfwasm_exporter_restarts_total', 'counter', 'Times an exporter was restarted after being quarantined', ['exporter']);
    declare('bpfwasm_exporter_state', 'gauge', 'Each exporter\'s state: 1 for the current one of loading, loaded, quarantined, shadow, failed, off (its sensor is off)', ['exporter', 'state']);
    declare('bpfwasm_exporter_queued_batches', 'gauge', 'Batches handed to an exporter\'s worker and not yet completed', ['exporter']);
    declare('bpfwasm_exporter_memory_bytes', 'gauge', 'What each exporter\'s instance holds: its linear memory, plus its tables (at their maximum), globals and segments', ['exporter']);
    declare('bpfwasm_exporter_logs_dropped_total', 'counter', 'Exporter log lines dropped by the per-exporter rate limit', ['exporter']);
    declare('bpfwasm_exporter_series_refused_total', 'counter', 'Series an exporter asked for past a series or label limit, refused', ['exporter']);
    declare('bpfwasm_exporter_series', 'gauge', 'Series each exporter owns', ['exporter']);
    declare('bpfwasm_exporter_series_expired_total', 'counter', 'Series removed after metrics.seriesTtlSeconds without an update', ['exporter']);
    declare('bpfwasm_exporter_up', 'gauge', 'Whether each exporter is loaded and running (1) or not (0)', ['exporter']);
  }

  /** The series of one exporter, interned once so the per-batch path is a few array writes. */
  of(exporter: string, version = ''): ExporterSeries {
    const tail = this.versioned ? [version] : [];
    return new ExporterSeries(this.store, (name, labels = []) => this.store.series(this.fam[name]!, [exporter, ...labels, ...tail]), exporter);
  }
}

export class ExporterSeries {
  readonly batches: number;
  readonly events: number;
  readonly duration: number;
  readonly restarts: number;
  readonly queued: number;
  readonly memory: number;
  readonly logsDropped: number;
  readonly seriesRefused: number;
  readonly series: number;
  readonly expired: number;
  readonly up: number;
  private readonly errors: Record<ErrorKind, number>;
  private readonly drops: Record<DropReason, number>;
  private readonly states: Record<ExporterState, number>;

  /** Every series of this exporter's self metrics, to release them when it is gone. */
  private readonly ids: number[] = [];

  constructor(private readonly store: SeriesStore, series: (name: string, labels?: string[]) => number, private readonly owner: string) {
    const sid = (name: string, labels?: string[]) => {
      const id = series(name, labels);
      this.ids.push(id);
      return id;
    };
    this.batches = sid('bpfwasm_exporter_batches_total');
    this.events = sid('bpfwasm_exporter_events_total');
    this.duration = sid('bpfwasm_exporter_batch_duration_seconds');
    this.restarts = sid('bpfwasm_exporter_restarts_total');
    this.queued = sid('bpfwasm_exporter_queued_batches');
    this.memory = sid('bpfwasm_exporter_memory_bytes');
    this.logsDropped = sid('bpfwasm_exporter_logs_dropped_total');
    this.seriesRefused = sid('bpfwasm_exporter_series_refused_total');
    this.series = sid('bpfwasm_exporter_series');
    this.expired = sid('bpfwasm_exporter_series_expired_total');
    this.up = sid('bpfwasm_exporter_up');
    this.errors = Object.fromEntries(ERROR_KINDS.map((k) => [k, sid('bpfwasm_exporter_errors_total', [k])])) as Record<ErrorKind, number>;
    this.drops = Object.fromEntries(DROP_REASONS.map((r) => [r, sid('bpfwasm_exporter_dropped_events_total', [r])])) as Record<DropReason, number>;
    this.states = Object.fromEntries(EXPORTER_STATES.map((s) => [s, sid('bpfwasm_exporter_state', [s])])) as Record<ExporterState, number>;
  }

  batch(events: number, seconds: number): void {
    this.store.add(this.batches, 1);
    this.store.add(this.events, events);
    this.store.observe(this.duration, seconds);
  }

  error(kind: ErrorKind, n = 1): void {
    if (n) this.store.add(this.errors[kind], n);
  }

  dropped(reason: DropReason, events: number): void {
    this.store.add(this.drops[reason], events);
  }

  add(series: number, n: number): void {
    if (n) this.store.add(series, n);
  }

  set(series: number, value: number): void {
    this.store.set(series, value);
  }

  state(state: ExporterState): void {
    for (const s of EXPORTER_STATES) this.store.set(this.states[s], s === state ? 1 : 0);
    this.store.set(this.up, state === 'loaded' || state === 'shadow' ? 1 : 0);
  }

  /** Removes these series from the store (a shadow candidate that ended, an unloaded exporter). */
  release(): void {
    this.store.free(this.ids.splice(0));
  }

  /** Refreshes the values read from the store itself (series owned, refusals). */
  refresh(): void {
    this.store.set(this.series, this.store.seriesOf(this.owner));
    this.store.set(this.seriesRefused, this.store.refusedSeries(this.owner));
  }
}
