// bpfwasm exporter SDK for AssemblyScript (ABI v1, see exporters/ABI.md).
// Everything here is allocation-free after init: series are looked up in SeriesCache by raw
// record bytes, label values are passed as pointer+length into the batch, and updates are
// buffered and sent with one host call per batch (or when the buffer fills).

export * from "./events";
export { SeriesCache } from "./series-cache";
export { JsonLine, jsonEscape } from "./json-line";
import { allCaches } from "./series-cache";

// ---- host imports (module "bpfwasm") ----

// @ts-ignore: decorator
@external("bpfwasm", "metric")
declare function hostMetric(kind: i32, namePtr: usize, nameLen: u32, helpPtr: usize, helpLen: u32,
  labelsPtr: usize, labelsLen: u32, bucketsPtr: usize, bucketsCount: u32): i32;
// @ts-ignore: decorator
@external("bpfwasm", "subscribe")
declare function hostSubscribe(recordType: u32): i32;
// @ts-ignore: decorator
@external("bpfwasm", "series")
declare function hostSeries(metric: i32, valuesPtr: usize, valuesCount: u32): i32;
// @ts-ignore: decorator
@external("bpfwasm", "update")
declare function hostUpdate(opsPtr: usize, opsCount: u32): i32;
// @ts-ignore: decorator
@external("bpfwasm", "log")
declare function hostLog(level: i32, ptr: usize, len: u32): void;
// @ts-ignore: decorator
@external("bpfwasm", "resolve")
declare function hostResolve(kind: i32, lo: u32, hi: u32, outPtr: usize, outCap: u32): i32;
// @ts-ignore: decorator
@external("bpfwasm", "config")
declare function hostConfig(keyPtr: usize, keyLen: u32, outPtr: usize, outCap: u32): i32;

// The ABI's numbers, generated from ebpf/schema/abi.yaml like the other SDKs' copies.
export { ABI_VERSION, EINVAL, EBOUNDS, ESTATE, ELIMIT, EUTF8, ENOTFOUND, ECONFLICT } from "./abi";
export { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, Resolve } from "./abi";
import {
  ABI_VERSION, LOG_ERROR, KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM,
  OP_ADD, OP_SET, OP_OBSERVE, OP_BUCKET_ADD, OP_SUM_ADD,
} from "./abi";

// ---- standard exports: re-export both from your exporter's entry file ----

export function bpfwasm_abi_version(): i32 {
  return ABI_VERSION;
}

let batchPtr: usize = 0;
let batchBytes: usize = 0;

/** The buffer the host copies each batch into; grown only when a larger batch is announced. */
export function bpfwasm_batch_buffer(minBytes: u32): usize {
  if (<usize>minBytes > batchBytes) {
    batchPtr = (heap.alloc(<usize>minBytes + 7) + 7) & ~(<usize>7);
    batchBytes = minBytes;
  }
  return batchPtr;
}

/**
 * The host is about to expire idle series and reuse their ids: drop every cached id. Live
 * series refill with one `series` call each, because interning is idempotent.
 */
export function bpfwasm_forget(idsPtr: usize, count: u32): void {
  for (let i = 0; i < allCaches.length; i++) unchecked(allCaches[i]).clear();
}

// ---- logging and failure ----

/** Logs a message. Encodes `msg` to UTF-8, so it allocates: use it in init and on rare paths. */
export function log(level: i32, msg: string): void {
  const bytes = String.UTF8.encode(msg);
  hostLog(level, changetype<usize>(bytes), <u32>bytes.byteLength);
}

/** Logs `len` UTF-8 bytes at `ptr` without allocating. */
export function logBytes(level: i32, ptr: usize, len: u32): void {
  hostLog(level, ptr, len);
}

/** Logs an error and traps: during init this refuses the module with the reason in the log. */
export function fail(msg: string): void {
  log(LOG_ERROR, msg);
  unreachable();
}

/**
 * Replaces AssemblyScript's `env.abort` import (build with
 * `--use abort=exporters/sdk/assemblyscript/index/bpfwasmAbort`) so a module imports only `bpfwasm.*`.
 */
export function bpfwasmAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const what = message !== null ? message : "abort";
  const where = fileName !== null ? fileName : "?";
  fail(what + " at " + where + ":" + line.toString() + ":" + column.toString());
}

// ---- declarations (only inside bpfwasm_init) ----

/** A UTF-8 copy of a string made once (e.g. at init), to pass as a label value without allocating later. */
export class Utf8 {
  readonly ptr: usize;
  readonly len: u32;
  private readonly bytes: ArrayBuffer;

  constructor(s: string) {
    this.bytes = String.UTF8.encode(s);
    this.ptr = changetype<usize>(this.bytes);
    this.len = <u32>this.bytes.byteLength;
  }
}

function declareMetric(kind: i32, name: string, help: string, labels: string, buckets: usize, bucketCount: u32): i32 {
  const n = new Utf8(name);
  const h = new Utf8(help);
  const l = new Utf8(labels);
  const id = hostMetric(kind, n.ptr, n.len, h.ptr, h.len, l.ptr, l.len, buckets, bucketCount);
  if (id < 0) fail("metric " + name + " refused by the host: error " + id.toString());
  return id;
}

/** Declares a counter; `labels` are the label names joined by ",". Traps with a log line if refused. */
export function declareCounter(name: string, help: string, labels: string): i32 {
  return declareMetric(KIND_COUNTER, name, help, labels, 0, 0);
}

export function declareGauge(name: string, help: string, labels: string): i32 {
  return declareMetric(KIND_GAUGE, name, help, labels, 0, 0);
}

/** `buckets`: strictly increasing upper bounds, without +Inf. */
export function declareHistogram(name: string, help: string, labels: string, buckets: StaticArray<f64>): i32 {
  return declareMetric(KIND_HISTOGRAM, name, help, labels, changetype<usize>(buckets), <u32>buckets.length);
}

/** Subscribes to batches of one record type (`RecordType.*`). Traps with a log line if refused. */
export function subscribe(recordType: u32): void {
  const rc = hostSubscribe(recordType);
  if (rc < 0) fail("subscribe(" + recordType.toString() + ") refused by the host: error " + rc.toString());
}

// ---- series: label values by pointer and length ----

const MAX_LABELS: u32 = 8;
const VALUES = memory.data(<i32>MAX_LABELS * 8, 8);

/** Series id of a metric with one label value, or a negative error code (ELIMIT, EUTF8…). */
export function series1(metric: i32, p0: usize, l0: u32): i32 {
  store<u32>(VALUES, <u32>p0);
  store<u32>(VALUES, l0, 4);
  return hostSeries(metric, VALUES, 1);
}

export function series2(metric: i32, p0: usize, l0: u32, p1: usize, l1: u32): i32 {
  store<u32>(VALUES, <u32>p0);
  store<u32>(VALUES, l0, 4);
  store<u32>(VALUES, <u32>p1, 8);
  store<u32>(VALUES, l1, 12);
  return hostSeries(metric, VALUES, 2);
}

export function series3(metric: i32, p0: usize, l0: u32, p1: usize, l1: u32, p2: usize, l2: u32): i32 {
  store<u32>(VALUES, <u32>p0);
  store<u32>(VALUES, l0, 4);
  store<u32>(VALUES, <u32>p1, 8);
  store<u32>(VALUES, l1, 12);
  store<u32>(VALUES, <u32>p2, 16);
  store<u32>(VALUES, l2, 20);
  return hostSeries(metric, VALUES, 3);
}

/** Any number of label values: `values` points at `count` pairs `{u32 ptr; u32 len}`. */
export function seriesN(metric: i32, values: usize, count: u32): i32 {
  return hostSeries(metric, values, count);
}

/** Length of a NUL-terminated string of at most `max` bytes (e.g. `strnlen(Header.comm(rec), 16)`). */
export function strnlen(ptr: usize, max: u32): u32 {
  let n: u32 = 0;
  while (n < max && load<u8>(ptr + n) != 0) n++;
  return n;
}

const SCRATCH_BYTES: u32 = 256;
const SCRATCH = memory.data(<i32>SCRATCH_BYTES);

/**
 * Copies at most 256 bytes to a static scratch buffer with every byte that is not printable
 * ASCII (non-ASCII, control bytes) replaced by '?', and returns the copy's address: a fallback
 * label value when the host answered EUTF8. The copy is overwritten by the next call.
 */
export function asciiCopy(ptr: usize, len: u32): usize {
  const n = min(len, SCRATCH_BYTES);
  for (let i: u32 = 0; i < n; i++) {
    const b = load<u8>(ptr + i);
    store<u8>(SCRATCH + i, b >= 0x20 && b < 0x7f ? b : 0x3f);
  }
  return SCRATCH;
}

// ---- updates: buffered, applied with one host call ----

const OPS_CAPACITY: u32 = 512;
const OPS = memory.data(<i32>OPS_CAPACITY * 16, 8);
let opsCount: u32 = 0;

/**
 * Drops operations still queued from a batch that trapped before its flush, so they never land
 * with the next batch: call it first in every `bpfwasm_on_batch`.
 */
export function batchBegin(): void {
  opsCount = 0;
}

// @ts-ignore: decorator
@inline function push(sid: i32, op: u32, value: f64): void {
  if (sid < 0) return; // a refused series: the host already counted the refusal
  const at = OPS + (<usize>opsCount << 4);
  store<u32>(at, <u32>sid);
  store<u32>(at, op, 4);
  store<f64>(at, value, 8);
  if (++opsCount == OPS_CAPACITY) flush();
}

/** Adds a finite value ≥ 0 to a counter series. A negative `sid` (a refused series) is ignored. */
export function counterAdd(sid: i32, value: f64): void {
  push(sid, OP_ADD, value);
}

export function gaugeAdd(sid: i32, value: f64): void {
  push(sid, OP_ADD, value);
}

export function gaugeSet(sid: i32, value: f64): void {
  push(sid, OP_SET, value);
}

export function observe(sid: i32, value: f64): void {
  push(sid, OP_OBSERVE, value);
}

/**
 * Adds `count` observations to histogram bucket `index` (0-based among the declared bounds;
 * the number of bounds means +Inf) without touching the sum: for pre-aggregated counts.
 */
export function observeBucket(sid: i32, index: u32, count: f64): void {
  push(sid, OP_BUCKET_ADD | (index << 8), count);
}

/** Adds to a histogram's sum (the other half of `observeBucket`). */
export function addSum(sid: i32, value: f64): void {
  push(sid, OP_SUM_ADD, value);
}

/**
 * Bounds 2^lo … 2^hi nanoseconds, in seconds: the buckets that take the kernel's log2 latency
 * slots exactly (slot s holds (2^(s-1), 2^s] ns). Allocates: call it in init.
 */
export function log2SecondsBuckets(lo: u32, hi: u32): StaticArray<f64> {
  const out = new StaticArray<f64>(<i32>(hi - lo + 1));
  for (let s = lo; s <= hi; s++) out[<i32>(s - lo)] = <f64>(<u64>1 << s) / 1e9;
  return out;
}

/** The bucket index of log2 slot `slot` among `log2SecondsBuckets(lo, hi)` (hi - lo + 1 is +Inf). */
// @ts-ignore: decorator
@inline export function slotBucket(slot: u32, lo: u32, hi: u32): u32 {
  return slot <= lo ? 0 : slot > hi ? hi - lo + 1 : slot - lo;
}

const NAME_BYTES: u32 = 1024;
const NAME = memory.data(<i32>NAME_BYTES);

function hostString(n: i32, ptr: usize): string | null {
  if (n < 0) return null;
  return String.UTF8.decodeUnsafe(ptr, <usize>min(<u32>n, NAME_BYTES));
}

/**
 * The host's name for an id (`Resolve.*`): a syscall, errno, disk, cgroup path… or null if it
 * has none. Allocates a string: call it when creating a series, never per event.
 */
export function resolveName(kind: i32, id: u64): string | null {
  return hostString(hostResolve(kind, <u32>id, <u32>(id >> 32), NAME, NAME_BYTES), NAME);
}

/** This exporter's setting `key` from the collector's config, or null if it is not set. */
export function configValue(key: string): string | null {
  const k = String.UTF8.encode(key);
  return hostString(hostConfig(changetype<usize>(k), <u32>k.byteLength, NAME, NAME_BYTES), NAME);
}

/** Sends the buffered updates to the host; call it at the end of every batch. Returns the ops it rejected. */
export function flush(): u32 {
  if (opsCount == 0) return 0;
  const r = hostUpdate(OPS, opsCount);
  opsCount = 0;
  return r > 0 ? <u32>r : 0;
}
