// The typed meter: families declared once with fixed names, help and labels, updated through
// their objects, never by a name string.
import { describe, expect, it } from 'vitest';
import { serializeText } from '../../src/metrics/exposition.js';
import { Meter } from '../../src/metrics/meter.js';
import { SeriesStore } from '../../src/metrics/store.js';

const store = () => new SeriesStore({ maxSeriesPerOwner: 1, maxLabelValueBytes: 64 });

describe('Meter', () => {
  it('declares each kind once, with its help and labels, under the collector outside every series limit', () => {
    const s = store();
    const m = new Meter(s);
    const requests = m.counter('x_requests_total', 'Requests, by code', ['code']);
    const up = m.gauge('x_up', 'Up');
    const latency = m.histogram('x_seconds', 'Latency', [], [0.1, 1]);
    requests.series('200').inc(2);
    requests.series('500').inc();
    up.series().set(1);
    latency.series().observe(0.5);
    expect(s.seriesOf('collector')).toBe(4); // past maxSeriesPerOwner 1: the collector's own are exempt
    expect(serializeText(s).toString()).toBe([
      '# HELP x_requests_total Requests, by code', '# TYPE x_requests_total counter',
      'x_requests_total{code="200"} 2', 'x_requests_total{code="500"} 1',
      '# HELP x_up Up', '# TYPE x_up gauge', 'x_up 1',
      '# HELP x_seconds Latency', '# TYPE x_seconds histogram',
      'x_seconds_bucket{le="0.1"} 0', 'x_seconds_bucket{le="1"} 1', 'x_seconds_bucket{le="+Inf"} 1', 'x_seconds_sum 0.5', 'x_seconds_count 1', '',
    ].join('\n'));
  });

  it('updates through an interned series with no lookup: the same slot each time', () => {
    const s = store();
    const c = new Meter(s).counter('x_total', 'X', ['k']);
    const a = c.series('a');
    expect(c.series('a').id).toBe(a.id);
    for (let i = 0; i < 1000; i++) a.inc();
    c.inc(['a'], 5); // a label set known only at run time reaches the same series
    expect(a.value).toBe(1005);
    a.setTotal(7);
    expect(s.value(a.id)).toBe(7);
    expect(a.inc(Infinity)).toBe(false); // an overflow is refused, not stored
    expect(a.value).toBe(7);
  });

  it('returns the same family when its owner declares it again, and refuses it to another owner', () => {
    const s = store();
    const first = new Meter(s).gauge('x_open', 'Open');
    first.series().add(3);
    expect(new Meter(s).gauge('x_open', 'Open').series().value).toBe(3);
    expect(() => new Meter(s, 'someone').gauge('x_open', 'Open')).toThrow(/already declared by collector/);
    expect(() => new Meter(s).counter('x_other_total', 'X', ['a', 'a'])).toThrow(/repeated/);
  });

  it('frees series of a family: they leave the exposition', () => {
    const s = store();
    const info = new Meter(s).gauge('x_info', 'Info', ['v']);
    const old = info.series('1');
    old.set(1);
    info.series('2').set(1);
    info.free([old]);
    expect(serializeText(s).toString()).toContain('x_info{v="2"} 1\n');
    expect(serializeText(s).toString()).not.toContain('v="1"');
  });
});
