// Prometheus' delimited protobuf exposition: a stream of varint-length-prefixed
// io.prometheus.client.MetricFamily messages (src/metrics/proto/metrics.proto). Pure: store in,
// bytes out. Messages are written straight into one growing buffer rather than through
// protobufjs objects, which at 100k series would build (and collect) a large object graph;
// field numbers still come from the .proto, loaded once with protobufjs.
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../package-root.js';
import { ByteWriter, type SizeHint } from './byte-writer.js';
import { formatFloat, type SerializeOptions } from './exposition.js';
import { NATIVE_SCHEMA, NATIVE_ZERO_THRESHOLD, sparseBuckets, type NativeHistogram } from './native-histogram.js';
import type { MetricFamily as StoreFamily, SeriesStore } from './store.js';

const PROTO_FILE = join(PACKAGE_ROOT, 'src', 'metrics', 'proto', 'metrics.proto');
const protoRoot = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: true });
/** The MetricFamily message type, for decoding (tests, tools). */
export const MetricFamilyType = protoRoot.lookupType('io.prometheus.client.MetricFamily');

const VARINT = 0;
const I64 = 1;
const LEN = 2;

/** The one-byte tag of a field, looked up in the .proto so the encoder cannot drift from it. */
function tag(message: string, field: string, wire: number): number {
  const f = protoRoot.lookupType(`io.prometheus.client.${message}`).fields[field];
  if (!f) throw new Error(`metrics.proto: ${message}.${field} is missing`);
  const t = (f.id << 3) | wire;
  if (t > 0x7f) throw new Error(`metrics.proto: ${message}.${field} needs a multi-byte tag`);
  return t;
}

const T = {
  familyName: tag('MetricFamily', 'name', LEN),
  familyHelp: tag('MetricFamily', 'help', LEN),
  familyType: tag('MetricFamily', 'type', VARINT),
  familyMetric: tag('MetricFamily', 'metric', LEN),
  label: tag('Metric', 'label', LEN),
  labelName: tag('LabelPair', 'name', LEN),
  labelValue: tag('LabelPair', 'value', LEN),
  gauge: tag('Metric', 'gauge', LEN),
  counter: tag('Metric', 'counter', LEN),
  untyped: tag('Metric', 'untyped', LEN),
  histogram: tag('Metric', 'histogram', LEN),
  gaugeValue: tag('Gauge', 'value', I64),
  counterValue: tag('Counter', 'value', I64),
  untypedValue: tag('Untyped', 'value', I64),
  sampleCount: tag('Histogram', 'sample_count', VARINT),
  sampleSum: tag('Histogram', 'sample_sum', I64),
  bucket: tag('Histogram', 'bucket', LEN),
  cumulativeCount: tag('Bucket', 'cumulative_count', VARINT),
  upperBound: tag('Bucket', 'upper_bound', I64),
  schema: tag('Histogram', 'schema', VARINT),
  zeroThreshold: tag('Histogram', 'zero_threshold', I64),
  zeroCount: tag('Histogram', 'zero_count', VARINT),
  negativeSpan: tag('Histogram', 'negative_span', LEN),
  negativeDelta: tag('Histogram', 'negative_delta', LEN), // packed
  positiveSpan: tag('Histogram', 'positive_span', LEN),
  positiveDelta: tag('Histogram', 'positive_delta', LEN), // packed
  spanOffset: tag('BucketSpan', 'offset', VARINT),
  spanLength: tag('BucketSpan', 'length', VARINT),
};

const MetricType = protoRoot.lookupEnum('io.prometheus.client.MetricType').values as Record<string, number>;
const TYPE = { counter: MetricType.COUNTER!, gauge: MetricType.GAUGE!, histogram: MetricType.HISTOGRAM!, untyped: MetricType.UNTYPED! };

const PROTOBUF_SIZE: SizeHint = { last: 64 * 1024 };

/** An append-only protobuf writer over one growing buffer. */
class Writer extends ByteWriter {
  /** A writer for a whole exposition (sized from the last one), or a small one of `size` bytes. */
  constructor(size?: number) {
    super(size === undefined ? PROTOBUF_SIZE : undefined, size);
  }

  /** A non-negative integer below 2^53. */
  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    while (n > 0x7fffffff) {
      buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    while (n > 0x7f) {
      buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.pos++] = n;
  }

  /** sint32/sint64 (zigzag), for integers within ±2^52. */
  svarint(n: number): void {
    this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A length-delimited string field. */
  string(t: number, s: string): void {
    // Room for the worst case: 3 UTF-8 bytes per UTF-16 unit, a 5-byte length and the tag.
    this.ensure(s.length * 3 + 6);
    this.buf[this.pos++] = t;
    if (s.length < 43) {
      // At most 126 bytes: a one-byte length, written after the string.
      const n = this.buf.write(s, this.pos + 1);
      this.buf[this.pos] = n;
      this.pos += n + 1;
    } else {
      const n = Buffer.byteLength(s);
      this.varint(n);
      this.pos += this.buf.write(s, this.pos);
    }
  }

  /** Starts a length-delimited message: reserves one byte for its length. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Ends a message begun at `start`, widening its length when it took more than one byte. */
  end(start: number): void {
    const len = this.pos - start - 1;
    if (len < 0x80) {
      this.buf[start] = len;
      return;
    }
    let width = 1;
    for (let n = len; n > 0x7f; n = Math.floor(n / 128)) width++;
    this.ensure(width - 1);
    this.buf.copyWithin(start + width, start + 1, this.pos);
    this.pos += width - 1;
    let n = len;
    let at = start;
    while (n > 0x7f) {
      this.buf[at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[at] = n;
  }
}

/** Encoded LabelPair fields (each with the Metric.label tag and length) for fixed name/value pairs. */
function labelPairs(pairs: readonly (readonly [string, string])[]): Buffer {
  const w = new Writer(64);
  for (const [name, value] of pairs) {
    w.ensure(1);
    w.byte(T.label);
    const at = w.begin();
    w.string(T.labelName, name);
    w.string(T.labelValue, value);
    w.end(at);
  }
  return w.buf.subarray(0, w.pos);
}

/** Per family: its label names, encoded once, and the external labels its series lack. */
interface FamilyLabels {
  /** The LabelPair.name field of each label, with tag and length. */
  names: Buffer[];
  external: Buffer;
}

function familyLabels(family: StoreFamily, opts: SerializeOptions): FamilyLabels {
  const names = family.spec.labelNames.map((n) => {
    const w = new Writer(n.length * 3 + 6);
    w.string(T.labelName, n);
    return w.buf.subarray(0, w.pos);
  });
  const external = labelPairs((opts.externalLabels ?? []).filter(([n]) => !family.spec.labelNames.includes(n)));
  return { names, external };
}

function writeLabels(w: Writer, labels: FamilyLabels, values: readonly string[], extra?: readonly [string, string]): void {
  for (let i = 0; i < values.length; i++) {
    w.ensure(2);
    w.byte(T.label);
    const at = w.begin();
    w.bytes(labels.names[i]!);
    w.string(T.labelValue, values[i]!);
    w.end(at);
  }
  if (extra) {
    w.ensure(2);
    w.byte(T.label);
    const at = w.begin();
    w.string(T.labelName, extra[0]);
    w.string(T.labelValue, extra[1]);
    w.end(at);
  }
  w.bytes(labels.external);
}

/** A Metric with one double in a Gauge, Counter or Untyped message (all three: value = field 1). */
function writeScalarMetric(w: Writer, labels: FamilyLabels, values: readonly string[], field: number, valueTag: number,
  v: number, extra?: readonly [string, string]): void {
  w.ensure(1);
  w.byte(T.familyMetric);
  const at = w.begin();
  writeLabels(w, labels, values, extra);
  w.ensure(3);
  w.byte(field);
  w.byte(9);
  w.byte(valueTag);
  w.double(v);
  w.end(at);
}

function writeFamilyHeader(w: Writer, name: string, help: string, type: number): void {
  w.string(T.familyName, name);
  w.string(T.familyHelp, help);
  w.ensure(2);
  w.byte(T.familyType);
  w.byte(type);
}

/** Ends a family, or drops it when no metric was written: Prometheus' parser wants at least one. */
function endFamily(w: Writer, start: number, headerEnd: number): void {
  if (w.pos === headerEnd) w.pos = start;
  else w.end(start);
}

function writeSpans(w: Writer, spanTag: number, deltaTag: number, spans: number[], deltas: number[]): void {
  for (let i = 0; i < spans.length; i += 2) {
    w.ensure(2);
    w.byte(spanTag);
    const at = w.begin();
    w.ensure(1);
    w.byte(T.spanOffset);
    w.svarint(spans[i]!);
    w.ensure(1);
    w.byte(T.spanLength);
    w.varint(spans[i + 1]!);
    w.end(at);
  }
  if (deltas.length === 0) return;
  w.ensure(1);
  w.byte(deltaTag);
  const at = w.begin();
  for (const d of deltas) w.svarint(d);
  w.end(at);
}

function writeNative(w: Writer, h: NativeHistogram | undefined): void {
  w.ensure(1);
  w.byte(T.schema);
  w.svarint(h ? h.schema : NATIVE_SCHEMA);
  w.ensure(1);
  w.byte(T.zeroThreshold);
  w.double(NATIVE_ZERO_THRESHOLD);
  w.ensure(1);
  w.byte(T.zeroCount);
  w.varint(h ? h.zeroCount : 0);
  if (!h) return;
  const neg = sparseBuckets(h.negative);
  writeSpans(w, T.negativeSpan, T.negativeDelta, neg.spans, neg.deltas);
  const pos = sparseBuckets(h.positive);
  writeSpans(w, T.positiveSpan, T.positiveDelta, pos.spans, pos.deltas);
}

export function serializeProtobuf(store: SeriesStore, opts: SerializeOptions = {}): Buffer {
  const w = new Writer();
  const include = opts.include;
  const native = store.native;
  for (const family of store.families) {
    if (include && opts.includeFamily?.(family.id) === false) continue;
    const { name, help, kind } = family.spec;
    const labels = familyLabels(family, opts);
    const start = w.begin();
    writeFamilyHeader(w, name, help, TYPE[kind]);
    const headerEnd = w.pos;
    if (kind !== 'histogram') {
      const field = kind === 'counter' ? T.counter : T.gauge;
      const valueTag = kind === 'counter' ? T.counterValue : T.gaugeValue;
      for (const sid of family.series) {
        if (include && !include(sid, 'value')) continue;
        writeScalarMetric(w, labels, store.seriesValues[sid]!, field, valueTag, store.read(sid).value());
      }
      endFamily(w, start, headerEnd);
      continue;
    }

    const bounds = family.bounds;
    const n = bounds.length;
    const les = [...bounds].map(formatFloat);
    les.push('+Inf');
    // Each bucket's upper_bound field (tag and value) is the same for every series.
    const upperBounds = [...bounds].map((b) => {
      const bw = new Writer(9);
      bw.byte(T.upperBound);
      bw.double(b);
      return bw.buf;
    });
    const isNative = native?.families.has(family.id) ?? false;
    /** Series only partly selected (federation): written below as separate untyped series. */
    const partial: number[] = [];
    for (const sid of family.series) {
      if (include) {
        let selected = 0;
        for (let i = 0; i <= n; i++) if (include(sid, 'bucket', les[i])) selected++;
        if (include(sid, 'sum')) selected++;
        if (include(sid, 'count')) selected++;
        if (selected === 0) continue;
        if (selected < n + 3) {
          partial.push(sid);
          continue;
        }
      }
      const samples = store.read(sid);
      w.ensure(1);
      w.byte(T.familyMetric);
      const metric = w.begin();
      writeLabels(w, labels, store.seriesValues[sid]!);
      w.ensure(1);
      w.byte(T.histogram);
      const hist = w.begin();
      const count = samples.count();
      w.ensure(1);
      w.byte(T.sampleCount);
      w.varint(count);
      w.ensure(1);
      w.byte(T.sampleSum);
      w.double(samples.sum());
      // The +Inf bucket is left out, as client_golang does: it equals sample_count.
      let acc = 0;
      for (let i = 0; i < n; i++) {
        acc += samples.bucket(i);
        w.ensure(3);
        w.byte(T.bucket);
        const bucket = w.begin();
        w.byte(T.cumulativeCount);
        w.varint(acc);
        w.bytes(upperBounds[i]!);
        w.end(bucket);
      }
      if (isNative) writeNative(w, count > 0 ? native!.get(sid) : undefined);
      w.end(hist);
      w.end(metric);
    }
    endFamily(w, start, headerEnd);

    // A histogram message always carries its count and sum, so a series of which a selector
    // picked only some samples is served as the selected samples themselves: untyped series
    // named and labelled as the text format exposes them (as Prometheus' own /federate does).
    if (partial.length === 0) continue;
    const parts = [
      { suffix: '_bucket', part: 'bucket' as const },
      { suffix: '_sum', part: 'sum' as const },
      { suffix: '_count', part: 'count' as const },
    ];
    for (const { suffix, part } of parts) {
      const start = w.begin();
      writeFamilyHeader(w, name + suffix, help, TYPE.untyped);
      const headerEnd = w.pos;
      for (const sid of partial) {
        const samples = store.read(sid);
        const values = store.seriesValues[sid]!;
        if (part !== 'bucket') {
          if (include!(sid, part)) writeScalarMetric(w, labels, values, T.untyped, T.untypedValue, part === 'sum' ? samples.sum() : samples.count());
          continue;
        }
        let acc = 0;
        for (let i = 0; i <= n; i++) {
          acc += samples.bucket(i);
          if (include!(sid, 'bucket', les[i])) {
            writeScalarMetric(w, labels, values, T.untyped, T.untypedValue, acc, ['le', les[i]!]);
          }
        }
      }
      endFamily(w, start, headerEnd);
    }
  }
  return w.finish();
}
