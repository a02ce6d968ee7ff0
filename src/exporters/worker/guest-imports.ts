// The `bpfwasm` import module one exporter instance sees, implemented inside its worker.
// Every pointer is checked against the module's memory; a bad argument becomes an error code
// (exporters/ABI.md), never an exception. What a batch may ask of the main thread is bounded:
// its `update` operations, and `resolve` calls the worker cannot answer from its cache. Series are interned here (label set → local id,
// with the limits enforced locally so the synchronous answers are exact) and accepted
// `update` operations are buffered; the main thread applies them to the host's store.
import { RECORD_SIZE } from '../../ingest/generated/events.js';
import { familyOfKey, labelValueProblem, seriesKey } from '../../metrics/labels.js';
import type { MetricSpec } from '../../metrics/store.js';
import {
  Errno, Kind, KIND_NAME, LABEL_VALUE_REF_SIZE, LogLevel, MAX_BUCKETS, MAX_HELP_BYTES, MAX_LABELS_BYTES,
  LOG_BURST, LOG_PER_SECOND, MAX_LOG_BYTES, MAX_NAME_BYTES, METRIC_CALLS_PER_INIT, Op, OP_SIZE, RESOLVE_CACHE_NAMES,
  RESOLVE_MISSES_PER_BATCH, UPDATE_OPS_PER_BATCH, UPDATE_OPS_PER_RECORD,
} from '../abi.js';
import type { FamilyInfo, Flush, Seed, SeriesLimits } from '../protocol.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** What the guest needs from the main thread synchronously (declarations, names) or not (logs). */
export interface HostLink {
  /** Declares a metric in the host's store: its id, or an error code and why. */
  declare(spec: MetricSpec): number | { code: number; why: string };
  resolve(kind: number, id: bigint): string | undefined;
  /** `fields` is set when the message was a JSON object: it is logged as structured fields. */
  log(level: number, msg: string, fields?: Record<string, unknown>): void;
}

export interface GuestOptions {
  readonly limits: SeriesLimits;
  /** This exporter's settings (a built-in exporter gets its sensor's config section). */
  readonly settings: Readonly<Record<string, string>>;
  /** Series of this exporter the host already holds (from an earlier instance). */
  readonly seed?: Seed;
  /** Milliseconds clock for the log rate limit (injectable for tests). */
  now?(): number;
}

interface LocalFamily {
  readonly info: FamilyInfo;
  /** Live series of the family, against metrics.maxSeriesPerMetric. */
  count: number;
}

export class GuestImports {
  /** `metric` and `subscribe` are accepted only while this is true (during `bpfwasm_init`). */
  initializing = true;
  readonly subscriptions = new Set<number>();
  rejectedOps = 0;
  rejectedCalls = 0;
  lastError = '';
  logsDropped = 0;
  /** Sequence number of the batch running now; stamps the series it touches (see `forgettable`). */
  private batchSeq = 0;
  /** What the running batch (or init) may still ask the main thread: `update` operations, names it does not have. */
  private opsLeft = UPDATE_OPS_PER_BATCH;
  private opsLimit = UPDATE_OPS_PER_BATCH;
  private resolveMissesLeft = RESOLVE_MISSES_PER_BATCH;
  private metricCallsLeft = METRIC_CALLS_PER_INIT;
  /** `kind:id` → name, of the host's `resolve` answers that found one. */
  private readonly names = new Map<string, string>();

  readonly imports: WebAssembly.ModuleImports = {
    metric: this.metric.bind(this),
    subscribe: this.subscribe.bind(this),
    series: this.series.bind(this),
    update: this.update.bind(this),
    log: this.log.bind(this),
    resolve: this.resolve.bind(this),
    config: this.config.bind(this),
  };

  private logTokens = LOG_BURST;
  private logRefilledAt: number;
  private memory: WebAssembly.Memory | undefined;
  // Views over memory.buffer, replaced when memory.grow detached the old buffer.
  private buffer = new ArrayBuffer(0);
  private dv = new DataView(this.buffer);
  private u8 = new Uint8Array(this.buffer);

  private readonly families = new Map<number, LocalFamily>();
  /** Label set key → local id, for every live series of this exporter. */
  private readonly interned = new Map<string, number>();
  private readonly keyOf: string[] = [];
  private readonly freeIds: number[] = [];
  private live = 0;
  /** Per local id: its Kind once this instance interned it, 0 otherwise (ownership and kind in one load). */
  private kinds = new Uint8Array(256);
  /** Per local id: its histogram's bucket count (the +Inf index). */
  private buckets = new Uint8Array(256);
  /** Per local id: the batch that last touched it. */
  private touched = new Uint32Array(256);

  // What the main thread has not seen yet: new series, accepted operations, refusals.
  private newSeries: [number, number, string[]][] = [];
  private ops = new DataView(new ArrayBuffer(64 * OP_SIZE));
  private opCount = 0;
  private refused = 0;
  private refusedByMetric = new Map<string, number>();
  private reported = { rejectedOps: 0, rejectedCalls: 0, logsDropped: 0 };

  /** `fixedBytes`: what the instance holds beside its linear memory (tables, globals, segments), counted in memoryBytes. */
  constructor(private readonly link: HostLink, private readonly options: GuestOptions, private readonly fixedBytes = 0) {
    this.logRefilledAt = this.clock();
    for (const f of options.seed?.families ?? []) this.families.set(f.id, { info: f, count: 0 });
    for (const [familyId, values] of options.seed?.series ?? []) {
      this.allocate(seriesKey(familyId, values));
      this.families.get(familyId)!.count++;
    }
  }

  private clock(): number {
    return this.options.now ? this.options.now() : performance.now();
  }

  /** Starts batch `seq` of `records` records: its series stamp, and fresh per-batch allowances. */
  beginBatch(seq: number, records: number): void {
    this.batchSeq = seq;
    this.opsLimit = UPDATE_OPS_PER_BATCH + UPDATE_OPS_PER_RECORD * records;
    this.opsLeft = this.opsLimit;
    this.resolveMissesLeft = RESOLVE_MISSES_PER_BATCH;
  }

  /** Accepted operations not yet taken by `takeFlush`. */
  get pendingOps(): number {
    return this.opCount;
  }

  /** Gives the imports the instance's memory; until then they answer ESTATE (a start function calling them). */
  attach(memory: WebAssembly.Memory): void {
    this.memory = memory;
  }

  /** Current bytes of the module's memory (a fresh view if it grew). */
  bytes(): Uint8Array {
    this.refresh();
    return this.u8;
  }

  /** Everything the main thread has not applied yet; resets the buffers. `ops` views them: valid until the next operation. */
  takeFlush(): Flush {
    const ops = new Uint8Array(this.ops.buffer, 0, this.opCount * OP_SIZE);
    const flush: Flush = {
      series: this.newSeries,
      ops,
      refused: this.refused,
      refusedByMetric: [...this.refusedByMetric],
      rejectedOps: this.rejectedOps - this.reported.rejectedOps,
      rejectedCalls: this.rejectedCalls - this.reported.rejectedCalls,
      logsDropped: this.logsDropped - this.reported.logsDropped,
      lastError: this.lastError,
      memoryBytes: this.fixedBytes + (this.memory ? this.memory.buffer.byteLength : 0),
    };
    this.newSeries = [];
    this.opCount = 0;
    this.refused = 0;
    this.refusedByMetric = new Map();
    this.reported = { rejectedOps: this.rejectedOps, rejectedCalls: this.rejectedCalls, logsDropped: this.logsDropped };
    return flush;
  }

  /** Of `ids`, those no batch after `appliedSeq` touched (so the host saw them idle); the rest stay. */
  forgettable(ids: readonly number[], appliedSeq: number): number[] {
    return ids.filter((id) => id < this.keyOf.length && this.keyOf[id] !== '' && this.touched[id]! <= appliedSeq);
  }

  /** Frees local ids after the module forgot them; later label sets may reuse them. */
  release(ids: readonly number[]): void {
    for (const id of ids) {
      const key = this.keyOf[id];
      if (!key) continue;
      this.interned.delete(key);
      this.keyOf[id] = '';
      this.kinds[id] = 0;
      this.families.get(familyOfKey(key))!.count--;
      this.freeIds.push(id);
      this.live--;
    }
  }

  metric(kind: number, namePtr: number, nameLen: number, helpPtr: number, helpLen: number,
    labelsPtr: number, labelsLen: number, bucketsPtr: number, bucketsCount: number): number {
    if (!this.initializing || !this.memory) return this.bad('metric', Errno.ESTATE, 'only allowed during bpfwasm_init');
    if (kind !== Kind.COUNTER && kind !== Kind.GAUGE && kind !== Kind.HISTOGRAM) {
      return this.bad('metric', Errno.EINVAL, `unknown kind ${kind}`);
    }
    const name = this.text(namePtr, nameLen, MAX_NAME_BYTES);
    if (typeof name === 'number') return this.bad('metric', name, 'bad name');
    const help = this.text(helpPtr, helpLen, MAX_HELP_BYTES);
    if (typeof help === 'number') return this.bad('metric', help, `${name}: bad help`);
    const labels = this.text(labelsPtr, labelsLen, MAX_LABELS_BYTES);
    if (typeof labels === 'number') return this.bad('metric', labels, `${name}: bad labels`);
    const count = bucketsCount >>> 0;
    if (kind === Kind.HISTOGRAM ? count === 0 || count > MAX_BUCKETS : count !== 0) {
      return this.bad('metric', Errno.EINVAL, `${name}: ${count} buckets`);
    }
    if (!this.inBounds(bucketsPtr, count * 8)) return this.bad('metric', Errno.EBOUNDS, `${name}: buckets out of bounds`);
    const buckets: number[] = [];
    for (let i = 0; i < count; i++) buckets.push(this.dv.getFloat64((bucketsPtr >>> 0) + i * 8, true));
    const spec: MetricSpec = {
      name, help, kind: KIND_NAME[kind] as MetricSpec['kind'],
      labelNames: labels === '' ? [] : labels.split(','),
      buckets: kind === Kind.HISTOGRAM ? buckets : undefined,
    };
    if (this.metricCallsLeft-- <= 0) return this.bad('metric', Errno.ELIMIT, `${name}: more than ${METRIC_CALLS_PER_INIT} metric calls in init`);
    const id = this.link.declare(spec);
    if (typeof id !== 'number') return this.bad('metric', id.code, id.why);
    if (!this.families.has(id)) {
      this.families.set(id, { info: { id, name, kind, labelCount: spec.labelNames.length, bucketCount: count }, count: 0 });
    }
    return id;
  }

  subscribe(recordType: number): number {
    if (!this.initializing || !this.memory) return this.bad('subscribe', Errno.ESTATE, 'only allowed during bpfwasm_init');
    if (!RECORD_SIZE[recordType]) return this.bad('subscribe', Errno.ENOTFOUND, `no record type ${recordType}`);
    this.subscriptions.add(recordType);
    return 0;
  }

  series(metricId: number, valuesPtr: number, valuesCount: number): number {
    if (!this.memory) return this.bad('series', Errno.ESTATE, 'called before the module was instantiated');
    const family = this.families.get(metricId);
    // Answered here, without asking the main thread: whose the id is, if anyone's, is not the module's business.
    if (!family) return this.bad('series', Errno.ENOTFOUND, `metric ${metricId} is not one of this exporter's`);
    const info = family.info;
    const n = valuesCount >>> 0;
    if (n !== info.labelCount) return this.bad('series', Errno.EINVAL, `${info.name} has ${info.labelCount} labels, got ${n}`);
    if (!this.inBounds(valuesPtr, n * LABEL_VALUE_REF_SIZE)) return this.bad('series', Errno.EBOUNDS, 'values out of bounds');
    const max = this.options.limits.maxLabelValueBytes;
    const values: string[] = [];
    for (let i = 0; i < n; i++) {
      const at = (valuesPtr >>> 0) + i * LABEL_VALUE_REF_SIZE;
      const ptr = this.dv.getUint32(at, true);
      const len = this.dv.getUint32(at + 4, true);
      if (!this.inBounds(ptr, len)) return this.bad('series', Errno.EBOUNDS, 'label value out of bounds');
      if (len > max) {
        this.refused++;
        return this.bad('series', Errno.ELIMIT, `label value of ${len} bytes exceeds ${max}`);
      }
      const v = this.text(ptr, len, max);
      if (typeof v === 'number') return this.bad('series', v, 'label value is not UTF-8');
      // Not label text, like invalid UTF-8: same code, so the SDKs' ASCII fallback covers both.
      const problem = labelValueProblem(v);
      if (problem) return this.bad('series', Errno.EUTF8, `${info.name}: ${problem}`);
      values.push(v);
    }
    const key = seriesKey(metricId, values);
    let id = this.interned.get(key);
    if (id === undefined) {
      const limits = this.options.limits;
      if (this.live >= limits.maxSeriesPerOwner) {
        this.refused++;
        return this.bad('series', Errno.ELIMIT, `limit of ${limits.maxSeriesPerOwner} series reached`);
      }
      if (limits.maxSeriesPerMetric !== undefined && family.count >= limits.maxSeriesPerMetric) {
        this.refused++;
        this.refusedByMetric.set(info.name, (this.refusedByMetric.get(info.name) ?? 0) + 1);
        return this.bad('series', Errno.ELIMIT, `${info.name}: limit of ${limits.maxSeriesPerMetric} series per metric reached`);
      }
      id = this.allocate(key);
      family.count++;
      this.newSeries.push([id, metricId, values]);
    }
    this.kinds[id] = info.kind;
    this.buckets[id] = info.bucketCount;
    this.touched[id] = this.batchSeq;
    return id;
  }

  /** Takes a local id for `key`, growing the per-id arrays when needed. */
  private allocate(key: string): number {
    const id = this.freeIds.pop() ?? this.keyOf.length;
    if (id >= this.kinds.length) {
      const size = Math.max(id + 1, this.kinds.length * 2);
      this.kinds = grown(this.kinds, new Uint8Array(size));
      this.buckets = grown(this.buckets, new Uint8Array(size));
      this.touched = grown(this.touched, new Uint32Array(size));
    }
    this.keyOf[id] = key;
    this.interned.set(key, id);
    this.live++;
    return id;
  }

  /**
   * The hot path: one call per batch, no allocation; returns the number of rejected operations.
   * Operations past the batch's allowance are refused unread: the main thread applies every
   * accepted one, so this bounds what a batch costs it.
   */
  update(opsPtr: number, opsCount: number): number {
    const asked = opsCount >>> 0;
    if (!this.memory) return this.bad('update', Errno.ESTATE, 'called before the module was instantiated');
    if (!this.inBounds(opsPtr, asked * OP_SIZE)) return this.bad('update', Errno.EBOUNDS, 'operations out of bounds');
    const n = Math.min(asked, this.opsLeft);
    const excess = asked - n;
    this.opsLeft -= n;
    if (excess) this.lastError = `update: more than ${this.opsLimit} operations in one batch; ${excess} refused`;
    this.reserveOps(n);
    const dv = this.dv;
    const out = this.ops;
    const kinds = this.kinds;
    const touched = this.touched;
    const seq = this.batchSeq;
    let w = this.opCount * OP_SIZE;
    let rejected = 0;
    for (let i = 0, at = opsPtr >>> 0; i < n; i++, at += OP_SIZE) {
      const sid = dv.getUint32(at, true);
      const op = dv.getUint32(at + 4, true);
      const v = dv.getFloat64(at + 8, true);
      const kind = sid < kinds.length ? kinds[sid]! : 0;
      // Every value must be finite: a NaN or ±Inf would poison a series for good.
      const ok = v - v === 0 && (
        (op === Op.ADD && (kind === Kind.GAUGE || (kind === Kind.COUNTER && v >= 0))) ||
        (op === Op.SET && kind === Kind.GAUGE) ||
        (op === Op.OBSERVE && kind === Kind.HISTOGRAM) ||
        ((op & 0xff) === Op.BUCKET_ADD && kind === Kind.HISTOGRAM && v >= 0 && Number.isInteger(v) && op >>> 8 <= this.buckets[sid]!) ||
        (op === Op.SUM_ADD && kind === Kind.HISTOGRAM));
      if (!ok) {
        rejected++;
        continue;
      }
      out.setUint32(w, sid, true);
      out.setUint32(w + 4, op, true);
      out.setFloat64(w + 8, v, true);
      w += OP_SIZE;
      touched[sid] = seq;
    }
    this.opCount = w / OP_SIZE;
    this.rejectedOps += rejected + excess;
    return rejected + excess;
  }

  private reserveOps(n: number): void {
    const need = (this.opCount + n) * OP_SIZE;
    if (need <= this.ops.byteLength) return;
    const bigger = new Uint8Array(Math.max(need, this.ops.byteLength * 2));
    bigger.set(new Uint8Array(this.ops.buffer, 0, this.opCount * OP_SIZE));
    this.ops = new DataView(bigger.buffer);
  }

  log(level: number, ptr: number, len: number): void {
    if (!this.memory) return;
    const n = Math.min(len >>> 0, MAX_LOG_BYTES);
    if (!this.inBounds(ptr, n)) {
      this.bad('log', Errno.EBOUNDS, 'message out of bounds');
      return;
    }
    if (!this.takeLogToken()) {
      this.logsDropped++;
      return;
    }
    const start = ptr >>> 0;
    const lvl = level < LogLevel.DEBUG ? LogLevel.DEBUG : Math.min(level, LogLevel.ERROR);
    const msg = lenientUtf8.decode(this.u8.subarray(start, start + n)); // a log line is kept even if not UTF-8
    this.link.log(lvl, msg, structured(msg));
  }

  /** Token bucket: LOG_BURST lines at once, refilled at LOG_PER_SECOND. */
  private takeLogToken(): boolean {
    const now = this.clock();
    this.logTokens = Math.min(LOG_BURST, this.logTokens + ((now - this.logRefilledAt) / 1000) * LOG_PER_SECOND);
    this.logRefilledAt = now;
    if (this.logTokens < 1) return false;
    this.logTokens -= 1;
    return true;
  }

  /** Cold path (call it when interning a series): a name for an id, from the host's resolver. */
  resolve(kind: number, lo: number, hi: number, outPtr: number, outCap: number): number {
    if (!this.memory) return this.bad('resolve', Errno.ESTATE, 'called before the module was instantiated');
    const key = `${kind}:${hi >>> 0}:${lo >>> 0}`;
    let name = this.names.get(key);
    if (name === undefined) {
      if (this.resolveMissesLeft <= 0) {
        return this.bad('resolve', Errno.ELIMIT, `more than ${RESOLVE_MISSES_PER_BATCH} names not found in one batch; ask again in a later one`);
      }
      name = this.link.resolve(kind, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
      if (name === undefined) {
        this.resolveMissesLeft--;
        return Errno.ENOTFOUND; // an expected answer, not a misuse: not counted
      }
      if (this.names.size >= RESOLVE_CACHE_NAMES) this.names.clear();
      this.names.set(key, name);
    }
    return this.writeOut('resolve', name, outPtr, outCap);
  }

  config(keyPtr: number, keyLen: number, outPtr: number, outCap: number): number {
    if (!this.memory) return this.bad('config', Errno.ESTATE, 'called before the module was instantiated');
    const key = this.text(keyPtr, keyLen, MAX_NAME_BYTES);
    if (typeof key === 'number') return this.bad('config', key, 'bad key');
    const value = Object.hasOwn(this.options.settings, key) ? this.options.settings[key] : undefined;
    if (value === undefined) return Errno.ENOTFOUND;
    return this.writeOut('config', value, outPtr, outCap);
  }

  /** Copies as much of `text` as fits into [outPtr, outPtr+outCap) and returns its full UTF-8 length. */
  private writeOut(call: string, text: string, outPtr: number, outCap: number): number {
    const bytes = utf8Encoder.encode(text);
    const cap = outCap >>> 0;
    const n = Math.min(bytes.length, cap);
    if (!this.inBounds(outPtr, cap)) return this.bad(call, Errno.EBOUNDS, 'output buffer out of bounds');
    this.u8.set(bytes.subarray(0, n), outPtr >>> 0);
    return bytes.length;
  }

  /** Refreshes the views, then checks `[ptr, ptr+len)` lies in memory; pointers are unsigned. */
  private inBounds(ptr: number, len: number): boolean {
    this.refresh();
    return (ptr >>> 0) + len <= this.buffer.byteLength;
  }

  private refresh(): void {
    const buffer = this.memory!.buffer;
    if (buffer !== this.buffer) {
      this.buffer = buffer;
      this.dv = new DataView(buffer);
      this.u8 = new Uint8Array(buffer);
    }
  }

  /** Decodes a UTF-8 string argument, or returns the error code. */
  private text(ptr: number, len: number, max: number): string | number {
    const n = len >>> 0;
    if (n > max) return Errno.EINVAL;
    if (!this.inBounds(ptr, n)) return Errno.EBOUNDS;
    const start = ptr >>> 0;
    try {
      return utf8.decode(this.u8.subarray(start, start + n));
    } catch {
      return Errno.EUTF8;
    }
  }

  /** Counts a call answered with an error code, keeps why, and returns the code. */
  private bad(call: string, code: number, why: string): number {
    this.rejectedCalls++;
    this.lastError = `${call}: ${why} (${code})`;
    return code;
  }
}

function grown<T extends Uint8Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** The fields of a log message that is a JSON object, else undefined (logged as plain text). */
function structured(msg: string): Record<string, unknown> | undefined {
  if (msg.charCodeAt(0) !== 123 /* { */) return undefined;
  try {
    const v: unknown = JSON.parse(msg);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
