// What the collector sees of an exporter and what it hands one: shared by the runtime's entry
// (runtime.ts) and the per-exporter handle (supervisor.ts), which would otherwise import each other.
import type { QuarantineEvent } from '../../logs/events.js';
import type { SeriesStore } from '../../metrics/store.js';
import type { ExporterCounters } from './exporter-stats.js';
import type { ExporterState } from './self-metrics.js';

/** Deadlines, memory and queue limits of every exporter (config `exporters.*`). */
export interface RuntimeLimits {
  /** Longest one `bpfwasm_on_batch` (or `bpfwasm_forget`) call may run before it is stopped and the exporter quarantined. */
  readonly batchTimeoutMs: number;
  /** Longest compiling, instantiating and `bpfwasm_init` may take. */
  readonly initTimeoutMs: number;
  /** A module's budget in 64 KiB pages: its linear memory, tables, globals and segments together (memory-cap.ts). */
  readonly maxMemoryPages: number;
  /** Batches handed to an exporter and not completed before further ones are dropped. */
  readonly queueBatches: number;
  /** First quarantine delay before a restart; doubled on each failure in a row, up to quarantineMaxMs. */
  readonly quarantineBaseMs: number;
  readonly quarantineMaxMs: number;
  /** Batches trapping in a row before the module is restarted from a fresh instance. */
  readonly maxConsecutiveTraps: number;
  /** Worker threads the exporters share (each exporter in its own instance); one hung module stalls its thread's others up to its deadline. */
  readonly threads: number;
}

export const DEFAULT_LIMITS: RuntimeLimits = {
  batchTimeoutMs: 250,
  initTimeoutMs: 2000,
  maxMemoryPages: 256,
  queueBatches: 64,
  quarantineBaseMs: 1000,
  quarantineMaxMs: 60_000,
  maxConsecutiveTraps: 16,
  threads: 1,
};

export interface ExporterHost {
  readonly store: SeriesStore;
  /**
   * A line an exporter wrote (the `log` import) or the host wrote about it. `fields`: the
   * exporter's message was a JSON object (untrusted: the host logs it namespaced, see
   * src/logs/events.ts); `builtin`: the line came from the collector's own shipped module.
   */
  log(exporter: string, level: number, msg: string, fields?: Record<string, unknown>, builtin?: boolean): void;
  /** The host quarantined an exporter: its one report of it (the collector logs it with logExporterQuarantine). */
  quarantined(event: QuarantineEvent): void;
  /** Names behind the `resolve` import (syscalls, errnos, devices, cgroups…). */
  resolve?(kind: number, id: bigint): string | undefined;
  /** Settings behind the `config` import, per exporter name. */
  settings?(exporter: string): Readonly<Record<string, string>> | undefined;
  /** Largest batch payload the host will pass; the module's buffer is requested at this size. */
  readonly maxBatchBytes: number;
  /** Overrides of DEFAULT_LIMITS. */
  readonly limits?: Partial<RuntimeLimits>;
}

/** A loaded exporter version: its handle, and its counters (ExporterStats keeps them). */
export interface Exporter extends ExporterCounters {
  readonly name: string;
  readonly state: ExporterState;
  /** Record types the module subscribed to in init, ascending. */
  readonly subscriptions: readonly number[];
  /** Whether the module exports `bpfwasm_forget`, so its idle series may expire. */
  readonly canForget: boolean;
  /**
   * Removes these idle series: the module drops them from its caches (bpfwasm_forget), then
   * the store frees them. False if the module cannot forget or trapped doing it (they stay).
   */
  forget(ids: readonly number[]): Promise<boolean>;
  /** Hands over one batch of `count` records of `recordType` (copied); never throws, never blocks. */
  onBatch(recordType: number, payload: Uint8Array, count: number): void;
  /** Resolves once every batch handed over so far has been applied to the store (or dropped). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The runtime limits of a host, defaults filled in. */
export function limitsOf(host: ExporterHost): RuntimeLimits {
  return { ...DEFAULT_LIMITS, ...host.limits };
}
