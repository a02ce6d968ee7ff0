// Delimited protobuf: decoded with protobufjs from the committed .proto and compared with the
// store; byte-exact against protobufjs' own encoder where both encode the same way.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { NATIVE_ZERO_THRESHOLD } from '../../src/metrics/native-histogram.js';
import { MetricFamilyType, serializeProtobuf } from '../../src/metrics/protobuf.js';
import { SeriesStore } from '../../src/metrics/store.js';

/** Decodes a delimited stream into plain objects (enums as names, 64-bit ints as numbers). */
function decode(buf: Uint8Array): Record<string, unknown>[] {
  const reader = protobuf.Reader.create(buf);
  const out: Record<string, unknown>[] = [];
  while (reader.pos < reader.len) {
    out.push(MetricFamilyType.toObject(MetricFamilyType.decodeDelimited(reader), { enums: String, longs: Number }));
  }
  return out;
}

const label = (name: string, value: string) => ({ name, value });

describe('delimited protobuf', () => {
  it('encodes counters and gauges byte for byte as protobufjs does', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64 });
    const c = s.declare('x', { name: 'a_total', help: 'Execs "by" comm\n', kind: 'counter', labelNames: ['comm', 'code'] });
    const g = s.declare('x', { name: 'b', help: 'B', kind: 'gauge', labelNames: [] });
    s.add(s.series(c, ['sh', '0']), 3);
    s.add(s.series(c, ['é→"\\', 'x'.repeat(50)]), 0.5);
    s.set(s.series(g, []), NaN);
    const w = protobuf.Writer.create();
    MetricFamilyType.encodeDelimited({
      name: 'a_total', help: 'Execs "by" comm\n', type: 0,
      metric: [
        { label: [label('comm', 'sh'), label('code', '0')], counter: { value: 3 } },
        { label: [label('comm', 'é→"\\'), label('code', 'x'.repeat(50))], counter: { value: 0.5 } },
      ],
    }, w);
    MetricFamilyType.encodeDelimited({ name: 'b', help: 'B', type: 1, metric: [{ label: [], gauge: { value: NaN } }] }, w);
    expect(Buffer.from(serializeProtobuf(s)).toString('hex')).toBe(Buffer.from(w.finish()).toString('hex'));
  });

  it('round-trips classic histograms (cumulative buckets, no +Inf bucket), leaving out empty families', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64 });
    s.declare('x', { name: 'empty_total', help: 'E', kind: 'counter', labelNames: [] });
    const h = s.declare('x', { name: 'h_seconds', help: 'H', kind: 'histogram', labelNames: ['op'], buckets: [0.1, 1] });
    const hs = s.series(h, ['read']);
    for (const v of [0.05, 0.1, 5]) s.observe(hs, v);
    expect(decode(serializeProtobuf(s))).toEqual([{
      name: 'h_seconds', help: 'H', type: 'HISTOGRAM',
      metric: [{
        label: [label('op', 'read')],
        histogram: {
          sample_count: 3, sample_sum: 5.15,
          bucket: [{ cumulative_count: 2, upper_bound: 0.1 }, { cumulative_count: 2, upper_bound: 1 }],
        },
      }],
    }]);
  });

  it('adds native buckets to observed histograms when enabled; prom-client style histograms stay classic', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64, nativeHistograms: true });
    const h = s.declare('x', { name: 'h_seconds', help: 'H', kind: 'histogram', labelNames: ['op'], buckets: [1] });
    const r = s.declare('runtime', { name: 'r_seconds', help: 'R', kind: 'histogram', labelNames: [], buckets: [1] });
    const hs = s.series(h, ['read']);
    for (const v of [0, 1, 1.5, 3, -2]) s.observe(hs, v);
    s.series(h, ['idle']); // no observation yet: native, empty
    s.setHistogram(s.series(r, []), [1, 1], 0.5, 1);
    const [hist, runtime] = decode(serializeProtobuf(s));
    expect(hist!.metric).toEqual([
      {
        label: [label('op', 'read')],
        histogram: {
          sample_count: 5, sample_sum: 3.5,
          bucket: [{ cumulative_count: 3, upper_bound: 1 }],
          schema: 3, zero_threshold: NATIVE_ZERO_THRESHOLD, zero_count: 1,
          negative_span: [{ offset: 8, length: 1 }], negative_delta: [1],
          positive_span: [{ offset: 0, length: 1 }, { offset: 4, length: 1 }, { offset: 7, length: 1 }],
          positive_delta: [1, 0, 0],
        },
      },
      {
        label: [label('op', 'idle')],
        histogram: {
          sample_count: 0, sample_sum: 0, bucket: [{ cumulative_count: 0, upper_bound: 1 }],
          schema: 3, zero_threshold: NATIVE_ZERO_THRESHOLD, zero_count: 0,
        },
      },
    ]);
    expect(runtime!.metric).toEqual([{
      histogram: { sample_count: 1, sample_sum: 0.5, bucket: [{ cumulative_count: 1, upper_bound: 1 }] },
    }]);
  });

  it('honours include and externalLabels: a partly selected histogram becomes its selected samples, untyped', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 64 });
    const c = s.declare('x', { name: 'a_total', help: 'A', kind: 'counter', labelNames: ['node'] });
    const h = s.declare('x', { name: 'h_seconds', help: 'H', kind: 'histogram', labelNames: ['op'], buckets: [0.5, 1] });
    s.add(s.series(c, ['own']), 1);
    const whole = s.series(h, ['whole']);
    const part = s.series(h, ['part']);
    s.observe(whole, 0.7);
    s.observe(part, 0.2);
    s.observe(part, 2);
    const out = decode(serializeProtobuf(s, {
      include: (sid, p, le) => sid !== part || p === 'count' || le === '1' || le === '+Inf',
      externalLabels: [['node', 'n1']],
    }));
    const ext = label('node', 'n1');
    expect(out).toEqual([
      { name: 'a_total', help: 'A', type: 'COUNTER', metric: [{ label: [label('node', 'own')], counter: { value: 1 } }] },
      {
        name: 'h_seconds', help: 'H', type: 'HISTOGRAM',
        metric: [{
          label: [label('op', 'whole'), ext],
          histogram: {
            sample_count: 1, sample_sum: 0.7,
            bucket: [{ cumulative_count: 0, upper_bound: 0.5 }, { cumulative_count: 1, upper_bound: 1 }],
          },
        }],
      },
      {
        name: 'h_seconds_bucket', help: 'H', type: 'UNTYPED',
        metric: [
          { label: [label('op', 'part'), label('le', '1'), ext], untyped: { value: 1 } },
          { label: [label('op', 'part'), label('le', '+Inf'), ext], untyped: { value: 2 } },
        ],
      },
      { name: 'h_seconds_count', help: 'H', type: 'UNTYPED', metric: [{ label: [label('op', 'part'), ext], untyped: { value: 2 } }] },
    ]);
  });

  it('writes lengths that need several bytes (large families and metrics)', () => {
    const s = new SeriesStore({ maxSeriesPerOwner: 5000, maxLabelValueBytes: 1024 });
    const c = s.declare('x', { name: 'a_total', help: 'A', kind: 'counter', labelNames: ['k'] });
    for (let i = 0; i < 3000; i++) s.add(s.series(c, [`v${i}`.padEnd(i % 300, 'x')]), i);
    const [family] = decode(serializeProtobuf(s));
    const metric = family!.metric as { label: { value: string }[]; counter: { value: number } }[];
    expect(metric).toHaveLength(3000);
    expect(metric[2999]).toEqual({ label: [label('k', 'v2999'.padEnd(2999 % 300, 'x'))], counter: { value: 2999 } });
  });
});
