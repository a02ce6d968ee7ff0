// One exporter version's counters: what the status API reports for that version, and the
// update of its /metrics series in the same call, so the two are never counted apart.
import type { DropReason, ExporterSeries } from './self-metrics.js';

/** The counters of one loaded version. */
export interface ExporterCounters {
  /** Completed batches and their events. */
  readonly batches: number;
  readonly events: number;
  /** Events never run, by reason (queue full, not running, aborted by a terminated worker). */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Batches that failed without trapping: a non-zero return, or no buffer large enough. */
  readonly errors: number;
  /** Batches aborted by a trap (disjoint from `errors`); the module keeps its state and gets the next batch. */
  readonly traps: number;
  /** Calls that overran their deadline (stopped at their next fuel check). */
  readonly timeouts: number;
  /** Workers that died on their own. */
  readonly crashes: number;
  /** Restarts after a quarantine. */
  readonly restarts: number;
  /** `update` operations refused (foreign series, wrong kind, non-finite or negative counter add). */
  readonly rejectedOps: number;
  /** Import calls answered with an error code (bad pointer, bad UTF-8, limit, wrong phase…). */
  readonly rejectedCalls: number;
  /** Log lines dropped by the per-exporter rate limit. */
  readonly logsDropped: number;
  /** The latest problem of any of the above, '' if none. */
  readonly lastError: string;
  /** Current size of the module's linear memory: steady once warm, since exporters do not allocate per event. */
  readonly memoryBytes: number;
}

export class ExporterStats implements ExporterCounters {
  batches = 0;
  events = 0;
  errors = 0;
  traps = 0;
  timeouts = 0;
  crashes = 0;
  restarts = 0;
  rejectedOps = 0;
  rejectedCalls = 0;
  logsDropped = 0;
  lastError = '';
  memoryBytes = 0;
  readonly dropped: Record<DropReason, number> = { queue_full: 0, not_running: 0, aborted: 0 };

  /** `series`: the name's /metrics series (per name, so they carry on across swaps; these count per version). */
  constructor(readonly series: ExporterSeries) {}

  /** One completed batch of `events` records that ran for `seconds`. */
  batch(events: number, seconds: number): void {
    this.batches++;
    this.events += events;
    this.series.batch(events, seconds);
  }

  /** A batch or forget aborted by a trap, or a batch that returned an error. */
  failed(kind: 'trap' | 'returned_error'): void {
    if (kind === 'trap') this.traps++;
    else this.errors++;
    this.series.error(kind);
  }

  /** A call overran its deadline, or the module's thread died because of it. */
  stopped(kind: 'timeout' | 'crash'): void {
    if (kind === 'timeout') this.timeouts++;
    else this.crashes++;
    this.series.error(kind);
  }

  restarted(): void {
    this.restarts++;
    this.series.add(this.series.restarts, 1);
  }

  /** What one flush of the worker refused, dropped and measured. */
  flushed(rejectedOps: number, rejectedCalls: number, logsDropped: number, memoryBytes: number): void {
    this.rejectedOps += rejectedOps;
    this.rejectedCalls += rejectedCalls;
    this.logsDropped += logsDropped;
    this.series.error('rejected_update', rejectedOps);
    this.series.error('rejected_call', rejectedCalls);
    this.series.add(this.series.logsDropped, logsDropped);
    if (memoryBytes !== this.memoryBytes) {
      this.memoryBytes = memoryBytes;
      this.series.set(this.series.memory, memoryBytes);
    }
  }

  drop(reason: DropReason, events: number): void {
    this.dropped[reason] += events;
    this.series.dropped(reason, events);
  }
}
