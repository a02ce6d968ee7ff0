// The `bpfwasm` import module one exporter instance sees. Every pointer is an offset into the
// module's own memory and is checked against its current size; a bad argument becomes an
// error code (exporters/ABI.md), never a host exception, so a buggy module cannot crash the
// collector or touch another exporter's series.
import { BpfwasmError } from '../errors.js';
import { RECORD_SIZE } from '../ingest/generated/events.js';
import type { MetricKind, SeriesStore } from '../metrics/store.js';
import {
  Errno, Kind, KIND_NAME, LABEL_VALUE_REF_SIZE, LogLevel, MAX_BUCKETS, MAX_HELP_BYTES, MAX_LABELS_BYTES,
  LOG_BURST, LOG_PER_SECOND, MAX_LOG_BYTES, MAX_NAME_BYTES, Op, OP_SIZE,
} from './abi.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** `fields` is set when the message was a JSON object: it is logged as structured fields. */
export type LogFn = (level: number, msg: string, fields?: Record<string, unknown>) => void;

/** Optional host services behind `resolve` and `config`; without them those answer ENOTFOUND. */
export interface ImportServices {
  resolve?(kind: number, id: bigint): string | undefined;
  /** This exporter's settings (a built-in exporter gets its sensor's config section). */
  readonly settings?: Readonly<Record<string, string>>;
  /** Milliseconds clock for the log rate limit (injectable for tests). */
  now?(): number;
}

const utf8Encoder = new TextEncoder();

export class HostImports {
  /** `metric` and `subscribe` are accepted only while this is true (during `bpfwasm_init`). */
  initializing = true;
  readonly subscriptions = new Set<number>();
  /** Operations `update` refused (wrong owner or kind, bad value). */
  rejectedOps = 0;
  /** Calls answered with an error code (out of bounds, bad UTF-8, limit…). */
  rejectedCalls = 0;
  /** The latest problem, shared with the exporter object so it reads as one history. */
  lastError = '';
  /** Log lines dropped by the rate limit (LOG_BURST, then LOG_PER_SECOND). */
  logsDropped = 0;
  private logTokens = LOG_BURST;
  private logRefilledAt = 0;

  readonly imports: WebAssembly.ModuleImports = {
    metric: this.metric.bind(this),
    subscribe: this.subscribe.bind(this),
    series: this.series.bind(this),
    update: this.update.bind(this),
    log: this.log.bind(this),
    resolve: this.resolve.bind(this),
    config: this.config.bind(this),
  };

  private memory: WebAssembly.Memory | undefined;
  // Views over memory.buffer, replaced when memory.grow detached the old buffer.
  private buffer = new ArrayBuffer(0);
  private dv = new DataView(this.buffer);
  private u8 = new Uint8Array(this.buffer);
  /** Per series id: its Kind when this exporter created it, 0 otherwise (ownership and kind in one load). */
  private kinds = new Uint8Array(256);

  constructor(
    private readonly name: string,
    private readonly store: SeriesStore,
    private readonly logFn: LogFn,
    private readonly services: ImportServices = {},
  ) {
    this.logRefilledAt = this.clock();
  }

  private clock(): number {
    return this.services.now ? this.services.now() : performance.now();
  }

  /** Revokes this exporter's ownership of series that are about to be freed and reused. */
  release(ids: readonly number[]): void {
    for (const id of ids) if (id < this.kinds.length) this.kinds[id] = 0;
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
    try {
      return this.store.declare(this.name, {
        name, help, kind: KIND_NAME[kind] as MetricKind,
        labelNames: labels === '' ? [] : labels.split(','),
        buckets: kind === Kind.HISTOGRAM ? buckets : undefined,
      });
    } catch (e) {
      if (!(e instanceof BpfwasmError)) throw e;
      return this.bad('metric', e.code === 'METRIC_CONFLICT' ? Errno.ECONFLICT : Errno.EINVAL, e.message);
    }
  }

  subscribe(recordType: number): number {
    if (!this.initializing || !this.memory) return this.bad('subscribe', Errno.ESTATE, 'only allowed during bpfwasm_init');
    if (!RECORD_SIZE[recordType]) return this.bad('subscribe', Errno.ENOTFOUND, `no record type ${recordType}`);
    this.subscriptions.add(recordType);
    return 0;
  }

  series(metricId: number, valuesPtr: number, valuesCount: number): number {
    if (!this.memory) return this.bad('series', Errno.ESTATE, 'called before the module was instantiated');
    const family = this.store.family(metricId);
    if (!family) return this.bad('series', Errno.ENOTFOUND, `no metric ${metricId}`);
    if (family.owner !== this.name) return this.bad('series', Errno.ECONFLICT, `${family.spec.name} belongs to ${family.owner}`);
    const n = valuesCount >>> 0;
    if (n !== family.spec.labelNames.length) {
      return this.bad('series', Errno.EINVAL, `${family.spec.name} has ${family.spec.labelNames.length} labels, got ${n}`);
    }
    if (!this.inBounds(valuesPtr, n * LABEL_VALUE_REF_SIZE)) return this.bad('series', Errno.EBOUNDS, 'values out of bounds');
    const max = this.store.options.maxLabelValueBytes;
    const values: string[] = [];
    for (let i = 0; i < n; i++) {
      const at = (valuesPtr >>> 0) + i * LABEL_VALUE_REF_SIZE;
      const ptr = this.dv.getUint32(at, true);
      const len = this.dv.getUint32(at + 4, true);
      if (!this.inBounds(ptr, len)) return this.bad('series', Errno.EBOUNDS, 'label value out of bounds');
      if (len > max) {
        this.store.countRefused(this.name);
        return this.bad('series', Errno.ELIMIT, `label value of ${len} bytes exceeds ${max}`);
      }
      const v = this.text(ptr, len, max);
      if (typeof v === 'number') return this.bad('series', v, 'label value is not UTF-8');
      values.push(v);
    }
    const id = this.store.series(metricId, values); // counts the refusal itself when it returns -1
    if (id < 0) return this.bad('series', Errno.ELIMIT, `limit of ${this.store.options.maxSeriesPerOwner} series reached`);
    if (id >= this.kinds.length) {
      const bigger = new Uint8Array(Math.max(id + 1, this.kinds.length * 2));
      bigger.set(this.kinds);
      this.kinds = bigger;
    }
    this.kinds[id] = KIND_NAME.indexOf(family.spec.kind);
    return id;
  }

  /** The hot path: one call per batch, no allocation; returns the number of rejected operations. */
  update(opsPtr: number, opsCount: number): number {
    const n = opsCount >>> 0;
    if (!this.memory) return this.bad('update', Errno.ESTATE, 'called before the module was instantiated');
    if (!this.inBounds(opsPtr, n * OP_SIZE)) return this.bad('update', Errno.EBOUNDS, 'operations out of bounds');
    const dv = this.dv;
    const kinds = this.kinds;
    const store = this.store;
    let rejected = 0;
    for (let i = 0, at = opsPtr >>> 0; i < n; i++, at += OP_SIZE) {
      const sid = dv.getUint32(at, true);
      const op = dv.getUint32(at + 4, true);
      const v = dv.getFloat64(at + 8, true);
      const kind = sid < kinds.length ? kinds[sid]! : 0;
      // Every value must be finite: a NaN or ±Inf would poison a series for good.
      if (v - v !== 0) rejected++;
      else if (op === Op.ADD && (kind === Kind.GAUGE || (kind === Kind.COUNTER && v >= 0))) store.add(sid, v);
      else if (op === Op.SET && kind === Kind.GAUGE) store.set(sid, v);
      else if (op === Op.OBSERVE && kind === Kind.HISTOGRAM) store.observe(sid, v);
      else if ((op & 0xff) === Op.BUCKET_ADD && kind === Kind.HISTOGRAM && v >= 0 && Number.isInteger(v) &&
        op >>> 8 <= store.bucketCount(sid)) store.observeBucket(sid, op >>> 8, v);
      else if (op === Op.SUM_ADD && kind === Kind.HISTOGRAM) store.addSum(sid, v);
      else rejected++;
    }
    this.rejectedOps += rejected;
    return rejected;
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
    const lvl = level < LogLevel.DEBUG ? LogLevel.DEBUG : level > LogLevel.ERROR ? LogLevel.ERROR : level;
    const msg = lenientUtf8.decode(this.u8.subarray(start, start + n)); // a log line is kept even if not UTF-8
    this.logFn(lvl, msg, structured(msg));
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

  /** Cold path (call it when interning a series): a name for an id, cached by the resolver. */
  resolve(kind: number, lo: number, hi: number, outPtr: number, outCap: number): number {
    if (!this.memory) return this.bad('resolve', Errno.ESTATE, 'called before the module was instantiated');
    const id = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    const name = this.services.resolve?.(kind, id);
    if (name === undefined) return Errno.ENOTFOUND; // an expected answer, not a misuse: not counted
    return this.writeOut('resolve', name, outPtr, outCap);
  }

  config(keyPtr: number, keyLen: number, outPtr: number, outCap: number): number {
    if (!this.memory) return this.bad('config', Errno.ESTATE, 'called before the module was instantiated');
    const key = this.text(keyPtr, keyLen, MAX_NAME_BYTES);
    if (typeof key === 'number') return this.bad('config', key, 'bad key');
    const value = this.services.settings?.[key];
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
