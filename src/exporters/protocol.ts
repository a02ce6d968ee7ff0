// Messages between the main thread and an exporter's worker, and the shared control block
// the watchdog and the synchronous calls (metric declarations, resolve) use.

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
  readonly ops: ArrayBuffer;
  readonly refused: number;
  readonly refusedByMetric: readonly (readonly [string, number])[];
  /** Increases since the previous flush. */
  readonly rejectedOps: number;
  readonly rejectedCalls: number;
  readonly logsDropped: number;
  readonly lastError: string;
  readonly memoryBytes: number;
}

export interface WorkerInit {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** `bytes` compiled once by the main thread (compileExporter); absent if that failed: the worker compiles and reports why. */
  readonly module?: WebAssembly.Module;
  readonly limits: SeriesLimits;
  readonly settings: Readonly<Record<string, string>>;
  readonly seed: Seed;
  readonly maxBatchBytes: number;
  readonly maxMemoryPages: number;
  readonly control: SharedArrayBuffer;
}

/** Accepted operations after which the worker sends a flush ahead of its `done`: bounds one message's cost to the main thread. */
export const FLUSH_OPS = 8192;

/** Numbers per batch in a `batches` message's `batches`: record type, record count, payload bytes. */
export const BATCH_FIELDS = 3;

export type ToWorker =
  /**
   * Batches run in order, numbered seq, seq + 1…; `batches` holds BATCH_FIELDS per batch and
   * their payloads lie back to back in `payload` (which may be longer than their sum).
   */
  | { readonly t: 'batches'; readonly seq: number; readonly batches: readonly number[]; readonly payload: ArrayBuffer }
  | { readonly t: 'forget'; readonly ids: readonly number[]; readonly appliedSeq: number };

export type RpcRequest =
  | { readonly op: 'declare'; readonly spec: import('../metrics/store.js').MetricSpec }
  | { readonly op: 'resolve'; readonly kind: number; readonly id: bigint };

/** How a batch ended. */
export const BatchStatus = { OK: 0, ERROR: 1, TRAP: 2 } as const;

export type FromWorker =
  | { readonly t: 'rpc'; readonly req: RpcRequest }
  | { readonly t: 'log'; readonly level: number; readonly msg: string; readonly fields?: Record<string, unknown> }
  | { readonly t: 'ready'; readonly subscriptions: readonly number[]; readonly canForget: boolean; readonly flush: Flush }
  | { readonly t: 'failed'; readonly code: string; readonly message: string }
  /** Part of a `batches` message's work, sent ahead of its `done` once FLUSH_OPS operations piled up. */
  | { readonly t: 'flush'; readonly flush: Flush }
  /**
   * A `batches` message ran: `seq` is its last batch's; one BatchStatus and one duration (s) per
   * batch, one flush for all, and the message's payload buffer handed back for reuse. Plain
   * arrays: typed ones add µs to every round trip.
   */
  | {
    readonly t: 'done'; readonly seq: number; readonly statuses: readonly number[]; readonly seconds: readonly number[];
    readonly flush: Flush; readonly payload: ArrayBuffer;
  }
  | { readonly t: 'forgotten'; readonly ids: readonly number[]; readonly trapped: boolean; readonly flush: Flush };

// Control block layout: Int32 slots, then one Float64, then the RPC answer bytes.
/** Int32 index: what the worker is doing (Phase). */
export const CTL_PHASE = 0;
/** Int32 index: 0 while an RPC is pending, 1 once answered (Atomics.wait/notify on it). */
export const CTL_RPC = 1;
/** Int32 index: the RPC's numeric answer. */
export const CTL_RPC_VALUE = 2;
/** Int32 index: bytes of the RPC's text answer, -1 for none. */
export const CTL_RPC_TEXT_LEN = 3;
/** Float64 index (of a Float64Array over the block): when the current phase started, in epoch ms. */
export const CTL_SINCE_F64 = 3;
export const CTL_TEXT_OFFSET = 64;
export const CTL_TEXT_BYTES = 8192;
export const CTL_BYTES = CTL_TEXT_OFFSET + CTL_TEXT_BYTES;

/** Phases the watchdog times. */
export const Phase = { IDLE: 0, INIT: 1, BATCH: 2, FORGET: 3 } as const;

/** Wall clock shared by both threads, in ms. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
