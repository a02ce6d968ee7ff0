// Messages between the main thread and an exporter thread, and the shared control block per
// exporter (slot) that the watchdog and the synchronous calls (metric declarations, resolve) use.

/** Series limits the worker enforces locally (same semantics as the store's). */
export interface SeriesLimits {
  readonly maxSeriesPerOwner: number;
  readonly maxSeriesPerMetric?: number;
  readonly maxLabelValueBytes: number;
}

/** What the worker knows of one of its metrics. */
export interface FamilyInfo {
  readonly id: number;
  readonly name: string;
  /** Kind.COUNTER, GAUGE or HISTOGRAM. */
  readonly kind: number;
  readonly labelCount: number;
  readonly bucketCount: number;
}

/**
 * The exporter's series the host already holds, from an earlier instance: local id i is
 * `series[i]`, so the worker's limits count them and the main thread maps them back.
 */
export interface Seed {
  readonly families: readonly FamilyInfo[];
  readonly series: readonly (readonly [familyId: number, values: readonly string[]])[];
}

/** Everything a worker produced since its last message: applied by the main thread in order. */
export interface Flush {
  /** New series: [local id, metric id, label values]. */
  readonly series: readonly (readonly [number, number, readonly string[]])[];
  /** Accepted `update` operations, OP_SIZE bytes each, with local series ids. */
  readonly ops: Uint8Array;
  readonly refused: number;
  readonly refusedByMetric: readonly (readonly [string, number])[];
  /** Increases since the previous flush. */
  readonly rejectedOps: number;
  readonly rejectedCalls: number;
  readonly logsDropped: number;
  readonly lastError: string;
  readonly memoryBytes: number;
}

/** What a thread needs to run one exporter (a slot): sent with `load`. */
export interface SlotInit {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly limits: SeriesLimits;
  readonly settings: Readonly<Record<string, string>>;
  readonly seed: Seed;
  readonly maxBatchBytes: number;
  readonly maxMemoryPages: number;
  /** Deadlines the thread enforces itself through the injected fuel checks (fuel.ts). */
  readonly batchTimeoutMs: number;
  readonly initTimeoutMs: number;
  readonly control: SharedArrayBuffer;
}

/** workerData of an exporter thread: the ring its batches arrive through (ring.ts), and the one its results go back through (results.ts). */
export interface ThreadInit {
  readonly ring: SharedArrayBuffer;
  readonly results: SharedArrayBuffer;
  /** Int32 words SIG_*, the results' hand-shake. */
  readonly signals: SharedArrayBuffer;
  /** The collector's V8 flags, set again by the thread (src/v8-flags.ts). */
  readonly v8Flags?: string;
}

/** Accepted operations after which the worker sends a slot's results at once, in a `done` message: bounds what the main thread applies in one go. */
export const FLUSH_OPS = 8192;

/**
 * Signals word: messages carrying results or a flush (`done` with results, `ready`, `forgotten`)
 * the main thread has applied. While one the thread posted is not applied, the thread sends its
 * results as messages too, never through the ring: the main thread reads the ring at any time, so
 * results written there after a message could be applied before it.
 */
export const SIG_APPLIED = 0;
/** Signals word: 1 while the main thread wants a message after each wake-up (batches wait for ring room, or a caller waits for results). */
export const SIG_ANSWER = 1;
export const SIGNALS_BYTES = 8;

/** Batches reach the thread through the ring (ring.ts); everything else is a message. */
export type ToWorker =
  | { readonly t: 'load'; readonly slot: number; readonly init: SlotInit }
  /** Runs after every batch written to the ring before it was posted. */
  | { readonly t: 'forget'; readonly slot: number; readonly ids: readonly number[]; readonly appliedSeq: number }
  | { readonly t: 'unload'; readonly slot: number };

export type RpcRequest =
  | { readonly op: 'declare'; readonly spec: import('../metrics/store.js').MetricSpec }
  | { readonly op: 'resolve'; readonly kind: number; readonly id: bigint };

/** How a batch ended; TIMEOUT: stopped at its deadline, the slot runs nothing more. */
export const BatchStatus = { OK: 0, ERROR: 1, TRAP: 2, TIMEOUT: 3 } as const;

/**
 * One slot's part of a wake-up: its batches numbered up to `seq`, one BatchStatus and one
 * duration (s) per batch, one flush for all. Plain arrays: typed ones add µs to every message.
 */
export interface SlotResults {
  readonly slot: number;
  readonly seq: number;
  readonly statuses: number[];
  readonly seconds: number[];
  flush: Flush;
}

export type FromWorker =
  | { readonly t: 'rpc'; readonly slot: number; readonly req: RpcRequest }
  | { readonly t: 'log'; readonly slot: number; readonly level: number; readonly msg: string; readonly fields?: Record<string, unknown> }
  | { readonly t: 'ready'; readonly slot: number; readonly subscriptions: readonly number[]; readonly canForget: boolean; readonly flush: Flush }
  /** `timeout`: loading overran initTimeoutMs. */
  | { readonly t: 'failed'; readonly slot: number; readonly code: string; readonly message: string; readonly timeout?: boolean }
  /**
   * Results that cannot wait in the results ring (a status other than OK, new series, FLUSH_OPS
   * operations, a full ring), in one message per wake-up; with no results, only a wake-up (SIG_ANSWER, a filling ring).
   */
  | { readonly t: 'done'; readonly results: readonly SlotResults[] }
  | {
    readonly t: 'forgotten'; readonly slot: number; readonly ids: readonly number[]; readonly trapped: boolean;
    readonly timeout: boolean; readonly flush: Flush;
  };

// Control block layout: Int32 slots, then one Float64, then the RPC answer bytes.
/** Int32 index: what the worker is doing (Phase). */
export const CTL_PHASE = 0;
/** Int32 index: 0 while an RPC is pending, 1 once answered (Atomics.wait/notify on it). */
export const CTL_RPC = 1;
/** Int32 index: the RPC's numeric answer. */
export const CTL_RPC_VALUE = 2;
/** Int32 index: bytes of the RPC's text answer, -1 for none. */
export const CTL_RPC_TEXT_LEN = 3;
/** Int32 index: set to 1 by the host once the slot is stopped (quarantined, closed): its code throws at the next fuel check. */
export const CTL_STOP = 4;
/** Float64 index (of a Float64Array over the block): when the current phase started, in epoch ms. */
export const CTL_SINCE_F64 = 3;
export const CTL_TEXT_OFFSET = 64;
export const CTL_TEXT_BYTES = 8192;
export const CTL_BYTES = CTL_TEXT_OFFSET + CTL_TEXT_BYTES;

/** Phases the watchdog times. */
export const Phase = { IDLE: 0, INIT: 1, BATCH: 2, FORGET: 3 } as const;

/** This thread's performance.timeOrigin: a constant, and its getter costs more than performance.now(). */
const TIME_ORIGIN = performance.timeOrigin;

/** Wall clock shared by both threads, in ms. */
export function epochMs(): number {
  return TIME_ORIGIN + performance.now();
}
