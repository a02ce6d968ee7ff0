// Properties (issue #16): whatever names, label names, label values and help an exporter tries,
// what the store accepts is written as text 0.0.4 that promtool parses, as OpenMetrics that
// client_python's reference parser accepts and as protobuf, and every accepted series comes back
// exactly once with its own labels: distinct series never merge, nothing accepted is lost.
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfwasmError } from '../../src/errors.js';
import { formatFloat, serializeText } from '../../src/metrics/exposition.js';
import { canonicalFloat, serializeOpenMetrics } from '../../src/metrics/openmetrics.js';
import { MetricFamilyType, serializeProtobuf } from '../../src/metrics/protobuf.js';
import { SeriesStore, type MetricKind } from '../../src/metrics/store.js';
import { promtoolCheck, ReferenceParser, type Parsed } from '../support/exposition-check.js';

interface Declaration {
  owner: string;
  name: string;
  kind: MetricKind;
  help: string;
  labelNames: string[];
  buckets: number[];
  series: { values: string[]; value: number }[];
}

// Names built from a few tokens, so suffix collisions (x_count beside histogram x…) come up often.
const token = fc.constantFrom('a', 'b', 'count', 'sum', 'bucket', 'created', 'total', 'info', 'le', 'x:y');
const name = fc.array(token, { minLength: 1, maxLength: 3 }).map((t) => t.join('_'));
const kind = fc.constantFrom<MetricKind>('counter', 'gauge', 'histogram');
const labelValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 6 }),
  // biome-ignore lint/suspicious/noControlCharactersInRegex: label values with NUL are the point
  fc.stringMatching(/^[a\\"\n\t\r\u0000|:0-9]{0,5}$/),
  fc.constantFrom('', '+Inf', 'a', 'NaN'),
);
const declaration: fc.Arbitrary<Declaration> = fc.record({
  owner: fc.constantFrom('e1', 'e2'),
  name,
  kind,
  help: fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constant('h')),
  labelNames: fc.uniqueArray(fc.constantFrom('x', 'y', 'le', 'quantile', 'z_total'), { maxLength: 2 }),
  buckets: fc.uniqueArray(fc.oneof(fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.constantFrom(1, 1e-6, 1.024e-6, 1e6, 0.25)),
    { minLength: 1, maxLength: 3 }).map((b) => b.sort((x, y) => x - y)),
  series: fc.array(fc.record({
    values: fc.array(labelValue, { minLength: 2, maxLength: 2 }),
    value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.nat()),
  }), { maxLength: 4 }),
});

/** Declares and fills what the store accepts; refusals must be clear coded errors. */
function build(decls: Declaration[]): SeriesStore {
  const store = new SeriesStore({ maxSeriesPerOwner: 1000, maxLabelValueBytes: 64 });
  for (const d of decls) {
    const metricName = d.kind === 'counter' && !d.name.endsWith('_total') ? `${d.name}_total` : d.name;
    let id: number;
    try {
      id = store.declare(d.owner, { name: metricName, help: d.help, kind: d.kind, labelNames: d.labelNames,
        buckets: d.kind === 'histogram' ? d.buckets : undefined });
    } catch (e) {
      expect(e).toBeInstanceOf(BpfwasmError);
      expect(['METRIC_INVALID', 'METRIC_CONFLICT']).toContain((e as BpfwasmError).code);
      continue;
    }
    for (const s of d.series) {
      let sid: number;
      try {
        sid = store.series(id, s.values.slice(0, d.labelNames.length));
      } catch (e) {
        expect((e as BpfwasmError).code).toBe('SERIES_INVALID');
        continue;
      }
      if (d.kind === 'histogram') store.observe(sid, s.value);
      else if (d.kind === 'counter') store.add(sid, Math.abs(s.value));
      else store.set(sid, s.value);
    }
  }
  return store;
}

/**
 * Every sample the store should expose, as `name{labels}` keys, with `le` written by `le`;
 * `counterSums`: `_sum`/`_count` only where the sum can be a counter (OpenMetrics).
 */
function expectedSamples(store: SeriesStore, le: (b: number) => string, counterSums = false): string[] {
  const out: string[] = [];
  for (const f of store.families) {
    for (const sid of f.series) {
      const labels = Object.fromEntries(f.spec.labelNames.map((n, i) => [n, store.seriesValues[sid]![i]!]));
      if (f.spec.kind !== 'histogram') {
        out.push(key(f.spec.name, labels));
        continue;
      }
      for (const b of [...f.bounds].map(le).concat('+Inf')) out.push(key(`${f.spec.name}_bucket`, { ...labels, le: b }));
      if (counterSums && (f.bounds[0]! < 0 || store.histogram(sid).sum < 0)) continue;
      out.push(key(`${f.spec.name}_sum`, labels), key(`${f.spec.name}_count`, labels));
    }
  }
  return out.sort();
}

function key(sample: string, labels: Record<string, string>): string {
  return JSON.stringify([sample, Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

interface ProtoMetric {
  label?: { name: string; value: string }[];
  histogram?: { bucket?: { upper_bound: number }[] };
}

/** The samples Prometheus makes of delimited protobuf (`le` as it renders an upper bound). */
function protobufSamples(buf: Uint8Array): string[] {
  const reader = protobuf.Reader.create(buf);
  const out: string[] = [];
  const names = new Set<string>();
  while (reader.pos < reader.len) {
    const f = MetricFamilyType.toObject(MetricFamilyType.decodeDelimited(reader), { enums: String, defaults: true }) as
      { name: string; type: string; metric: ProtoMetric[] };
    expect(names.has(f.name), `family ${f.name} twice`).toBe(false);
    names.add(f.name);
    for (const m of f.metric) {
      const labels = Object.fromEntries((m.label ?? []).map((l) => [l.name, l.value]));
      if (f.type !== 'HISTOGRAM') {
        out.push(key(f.name, labels));
        continue;
      }
      for (const b of m.histogram!.bucket ?? []) out.push(key(`${f.name}_bucket`, { ...labels, le: canonicalFloat(b.upper_bound) }));
      out.push(key(`${f.name}_bucket`, { ...labels, le: '+Inf' }), key(`${f.name}_sum`, labels), key(`${f.name}_count`, labels));
    }
  }
  return out.sort();
}

function parsedSamples(p: Parsed | undefined): string[] {
  expect(p?.error).toBeUndefined();
  return p!.samples!.map((s) => key(s.name, s.labels)).sort();
}

describe('exposition validity', () => {
  const parser = new ReferenceParser();
  afterAll(() => parser.close());

  it('property: accepted names and label sets give valid text, OpenMetrics and protobuf, every series exactly once', async () => {
    await fc.assert(fc.asyncProperty(fc.array(declaration, { minLength: 1, maxLength: 6 }), async (decls) => {
      const store = build(decls);
      const text = serializeText(store).toString();
      const openmetrics = serializeOpenMetrics(store).toString();
      const check = promtoolCheck(text);
      expect(check.status, `${check.output}\n${text}`).not.toBe(1);
      const parsed = await parser.parse({ text, openmetrics });
      expect(parsedSamples(parsed.text)).toEqual(expectedSamples(store, formatFloat));
      expect(parsedSamples(parsed.openmetrics)).toEqual(expectedSamples(store, canonicalFloat, true));
      expect(protobufSamples(serializeProtobuf(store))).toEqual(expectedSamples(store, canonicalFloat));
    }), { numRuns: 50 });
  }, 120_000);
});
