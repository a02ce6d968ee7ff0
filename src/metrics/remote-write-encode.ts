// Remote write 1.0 encoding: the series store at one instant → snappy-compressed protobuf
// WriteRequests. No I/O; the sender (remote-write.ts) only moves the bytes.
//
// A series' labels never change, so each sample series' labels are protobuf-encoded once
// (with protobufjs, from proto/types.proto) and cached; a snapshot then only appends each
// value and the timestamp to those bytes. Protobuf concatenates fields of one message, so
// a TimeSeries is its cached `labels` fields followed by one `samples` field.
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { compressSync } from 'snappy';
import { PACKAGE_ROOT } from '../package-root.js';
import { formatFloat } from './exposition.js';
import type { MetricSpec, SeriesStore } from './store.js';

export interface Label {
  name: string;
  value: string;
}

/** One sample: the encoded labels of its series (TimeSeries field 1, repeated) and its value. */
export interface SnapshotSample {
  labels: Uint8Array;
  value: number;
}

/** An encoded request and the samples it carries (what is counted when it is sent or dropped). */
export interface EncodedRequest {
  body: Buffer;
  samples: number;
}

/**
 * Prometheus' staleness marker (value.StaleNaN). Its bits only survive in a Float64Array
 * or a plain property: V8 canonicalises NaNs put into a JS array of doubles.
 */
export const STALE_NAN = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]!;

let types: { writeRequest: protobuf.Type; timeSeries: protobuf.Type } | undefined;

/** The remote write message types, loaded once from the .proto files shipped with the package. */
export function remoteWriteTypes(): { writeRequest: protobuf.Type; timeSeries: protobuf.Type } {
  if (!types) {
    const root = protobuf.loadSync(join(PACKAGE_ROOT, 'src', 'metrics', 'proto', 'remote.proto'));
    types = { writeRequest: root.lookupType('prometheus.WriteRequest'), timeSeries: root.lookupType('prometheus.TimeSeries') };
  }
  return types;
}

/** Where a label's value comes from: the metric name, the bucket bound, or a position in the series' values (else the fallback). */
interface LabelSource {
  name: string;
  from: 'metric' | 'le' | number;
  fallback: string;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A family's label names in the order the spec requires (byte order), with where each value comes from. */
function labelLayout(spec: MetricSpec, externalLabels: Readonly<Record<string, string>>): LabelSource[] {
  const sources: LabelSource[] = spec.labelNames.map((n, i) => ({ name: n, from: i, fallback: externalLabels[n] ?? '' }));
  for (const [n, v] of Object.entries(externalLabels)) {
    if (!spec.labelNames.includes(n)) sources.push({ name: n, from: -1, fallback: v });
  }
  sources.push({ name: '__name__', from: 'metric', fallback: '' });
  if (spec.kind === 'histogram') sources.push({ name: 'le', from: 'le', fallback: '' });
  return sources.sort(byName);
}

/** Labels of one sample series; empty values are left out (the spec forbids them, Prometheus reads them as absent). */
function labelsOf(layout: readonly LabelSource[], values: readonly string[], metric: string, le = ''): Label[] {
  const labels: Label[] = [];
  for (const s of layout) {
    const value = s.from === 'metric' ? metric : s.from === 'le' ? le : values[s.from] || s.fallback;
    if (value !== '') labels.push({ name: s.name, value });
  }
  return labels;
}

/** The encoded labels of each sample series of one store series, and the snapshot that last saw each. */
interface Cached {
  family: number;
  rendered: string;
  samples: { labels: Uint8Array; seen: number }[];
}

/**
 * Takes snapshots of a store: counters and gauges one sample each, histograms as classic
 * cumulative `_bucket{le}`, `_sum` and `_count`. External labels fill in where a series lacks
 * the label. Series gone since the previous snapshot (expired, reloaded away) get a stale
 * marker, as the spec requires, so receivers end them at once rather than after 5 minutes.
 */
export class Snapshotter {
  /** By store series id; an entry is rebuilt when the id now holds another series. */
  private readonly cache: (Cached | undefined)[] = [];
  private last: Cached['samples'] = [];
  private generation = 0;

  constructor(private readonly store: SeriesStore, private readonly externalLabels: Readonly<Record<string, string>>) {}

  take(): SnapshotSample[] {
    const { store } = this;
    const seen = ++this.generation;
    const out: SnapshotSample[] = [];
    const current: Cached['samples'] = [];
    const add = (sample: Cached['samples'][number], value: number) => {
      sample.seen = seen;
      current.push(sample);
      out.push({ labels: sample.labels, value });
    };
    for (const family of store.families) {
      let layout: LabelSource[] | undefined;
      const n = family.bounds.length;
      for (const sid of family.series) {
        const rendered = store.seriesLabels[sid]!;
        let cached = this.cache[sid];
        if (cached?.family !== family.id || cached.rendered !== rendered) {
          layout ??= labelLayout(family.spec, this.externalLabels);
          cached = this.cache[sid] = { family: family.id, rendered, samples: this.encodeSeries(family.spec, layout, store.seriesValues[sid]!) };
        }
        const samples = store.read(sid);
        if (family.spec.kind !== 'histogram') {
          add(cached.samples[0]!, samples.value());
          continue;
        }
        let acc = 0;
        for (let i = 0; i <= n; i++) add(cached.samples[i]!, (acc += samples.bucket(i)));
        add(cached.samples[n + 1]!, samples.sum());
        add(cached.samples[n + 2]!, samples.count());
      }
    }
    for (const sample of this.last) if (sample.seen !== seen) out.push({ labels: sample.labels, value: STALE_NAN });
    this.last = current;
    return out;
  }

  private encodeSeries(spec: MetricSpec, layout: readonly LabelSource[], values: readonly string[]): Cached['samples'] {
    const { timeSeries } = remoteWriteTypes();
    const encode = (labels: Label[]) => ({ labels: timeSeries.encode({ labels }).finish(), seen: 0 });
    if (spec.kind !== 'histogram') return [encode(labelsOf(layout, values, spec.name))];
    const les = (spec.buckets ?? []).map(formatFloat);
    les.push('+Inf');
    return [
      ...les.map((le) => encode(labelsOf(layout, values, `${spec.name}_bucket`, le))),
      encode(labelsOf(layout, values, `${spec.name}_sum`)),
      encode(labelsOf(layout, values, `${spec.name}_count`)),
    ];
  }
}

// Protobuf keys (field number << 3 | wire type) from proto/remote.proto and proto/types.proto.
const WRITE_REQUEST_TIMESERIES = 0x0a; // 1, length-delimited
const TIMESERIES_SAMPLES = 0x12; // 2, length-delimited
const SAMPLE_VALUE = 0x09; // 1, 64-bit
const SAMPLE_TIMESTAMP = 0x10; // 2, varint

function varintSize(v: number): number {
  let size = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative integer below 2^53 as a varint (no 32-bit operators: timestamps exceed them). */
function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 128) {
    buf[pos++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/** Splits samples into WriteRequests of at most `maxSamples` samples, all at `timestampMs`. */
export function encodeWriteRequests(samples: readonly SnapshotSample[], timestampMs: number, maxSamples: number): EncodedRequest[] {
  const sampleSize = 1 + 8 + 1 + varintSize(timestampMs); // always below 128: a one-byte length
  const out: EncodedRequest[] = [];
  for (let start = 0; start < samples.length; start += maxSamples) {
    const end = Math.min(samples.length, start + maxSamples);
    let size = 0;
    for (let i = start; i < end; i++) {
      const len = samples[i]!.labels.length + 2 + sampleSize;
      size += 1 + varintSize(len) + len;
    }
    const buf = Buffer.allocUnsafe(size);
    let pos = 0;
    for (let i = start; i < end; i++) {
      const { labels, value } = samples[i]!;
      buf[pos++] = WRITE_REQUEST_TIMESERIES;
      pos = writeVarint(buf, pos, labels.length + 2 + sampleSize);
      buf.set(labels, pos);
      pos += labels.length;
      buf[pos++] = TIMESERIES_SAMPLES;
      buf[pos++] = sampleSize;
      buf[pos++] = SAMPLE_VALUE;
      pos = buf.writeDoubleLE(value, pos);
      buf[pos++] = SAMPLE_TIMESTAMP;
      pos = writeVarint(buf, pos, timestampMs);
    }
    out.push({ body: compressSync(buf), samples: end - start });
  }
  return out;
}
