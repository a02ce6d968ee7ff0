// Exporter ABI v1 constants (exporters/ABI.md): the one source the runtime, the validator
// and the tests share, so a number in the spec is written down exactly once in TypeScript.

// The numbers are generated from ebpf/schema/abi.yaml, like the SDKs' and the helper's copies.
export { ABI_VERSION, Errno, Kind, LogLevel, Op, ResolveKind } from './generated/abi.js';

/** The only import module a v1 exporter may use. */
export const IMPORT_MODULE = 'bpfwasm';

/** Wasm function signature, written as the validator prints it. */
export type Signature = string;

const sig = (params: number, results: 0 | 1): Signature =>
  `(${Array<string>(params).fill('i32').join(', ')}) -> ${results ? 'i32' : '()'}`;

/** Imports the host provides, with their signatures. */
export const IMPORTS: Readonly<Record<string, Signature>> = {
  metric: sig(9, 1),
  subscribe: sig(1, 1),
  series: sig(3, 1),
  update: sig(2, 1),
  log: sig(3, 0),
  resolve: sig(5, 1),
  config: sig(4, 1),
};

export const EXPORT_MEMORY = 'memory';
export const EXPORT_ABI_VERSION = 'bpfwasm_abi_version';
export const EXPORT_INIT = 'bpfwasm_init';
export const EXPORT_BATCH_BUFFER = 'bpfwasm_batch_buffer';
export const EXPORT_ON_BATCH = 'bpfwasm_on_batch';
export const EXPORT_FORGET = 'bpfwasm_forget';

/** Function exports a module must provide, with their signatures (plus `memory`). */
export const FUNCTION_EXPORTS: Readonly<Record<string, Signature>> = {
  [EXPORT_ABI_VERSION]: sig(0, 1),
  [EXPORT_INIT]: sig(0, 1),
  [EXPORT_BATCH_BUFFER]: sig(1, 1),
  [EXPORT_ON_BATCH]: sig(4, 1),
};

/**
 * Exports a module may provide. Without `bpfwasm_forget` the host cannot tell the module that
 * idle series ids are about to be reused, so that module's series never expire.
 */
export const OPTIONAL_FUNCTION_EXPORTS: Readonly<Record<string, Signature>> = {
  [EXPORT_FORGET]: sig(2, 0),
};

export const KIND_NAME = ['', 'counter', 'gauge', 'histogram'] as const;

/** Log lines an exporter may write in a burst, and per second after it; the rest are counted as dropped. */
export const LOG_BURST = 50;
export const LOG_PER_SECOND = 10;

/**
 * `update` operations one batch (or init) may pass: UPDATE_OPS_PER_BATCH, plus
 * UPDATE_OPS_PER_RECORD per record of the batch; the rest are refused and counted as rejected.
 */
export const UPDATE_OPS_PER_BATCH = 1024;
export const UPDATE_OPS_PER_RECORD = 4;

/** `metric` calls init may make (each is answered by the main thread); past it they return ELIMIT. */
export const METRIC_CALLS_PER_INIT = 1024;

/**
 * `resolve` calls one batch may make that the host answers ENOTFOUND; past it `resolve`
 * returns ELIMIT for names the worker has not cached. Found names are cached in the worker.
 */
export const RESOLVE_MISSES_PER_BATCH = 64;

/** Names the worker keeps from `resolve` answers; cleared when full. */
export const RESOLVE_CACHE_NAMES = 16384;

/** Bytes per `update` operation: `{u32 series_id; u32 op; f64 value}`. */
export const OP_SIZE = 16;

/** Bytes per `series` label value: `{u32 ptr; u32 len}`. */
export const LABEL_VALUE_REF_SIZE = 8;

/** Longest metric name, help text and label-name list `metric` accepts, in bytes. */
export const MAX_NAME_BYTES = 256;
export const MAX_HELP_BYTES = 1024;
export const MAX_LABELS_BYTES = 1024;
/** Most histogram buckets `metric` accepts. */
export const MAX_BUCKETS = 64;
/** Longest log line kept; longer ones are truncated. */
export const MAX_LOG_BYTES = 4096;
