import pino from 'pino';
import { uncompressSync } from 'snappy';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeWriteRequests, Snapshotter, STALE_NAN, type Label,
} from '../../src/metrics/remote-write-encode.js';
import { backoffMs, outcomeOf, parseRetryAfter } from '../../src/metrics/remote-write-retry.js';
import { RemoteWriter, type RemoteWriterOptions } from '../../src/metrics/remote-write.js';
import { SeriesStore } from '../../src/metrics/store.js';
import { decodeWriteRequest as decode, startRemoteWriteReceiver as startReceiver, type Answer, type Received } from '../../bench/doubles/remote-write.mjs';
import { freePort, waitFor } from '../integration/support/collector.js';

const L = (labels: Record<string, string>): Label[] => Object.entries(labels).map(([name, value]) => ({ name, value }));

function newStore(): SeriesStore {
  return new SeriesStore({ maxSeriesPerOwner: 1000, maxLabelValueBytes: 256 });
}

/** A value of the writer's own metrics (0 when the series does not exist). */
function metric(store: SeriesStore, name: string, labels: string[] = []): number {
  const family = store.families.find((f) => f.spec.name === name);
  if (!family) throw new Error(`no metric ${name}`);
  for (const sid of family.series) if (store.seriesValues[sid]!.join('\u0000') === labels.join('\u0000')) return store.value(sid);
  return 0;
}

describe('remote write encoding', () => {
  const TS = 1_700_000_000_123;

  it('writes counters, gauges and classic histograms with sorted labels and external labels', () => {
    const s = newStore();
    const exec = s.declare('e', { name: 'rw_exec_total', help: 'h', kind: 'counter', labelNames: ['comm', 'node'] });
    s.add(s.series(exec, ['sh', '']), 3); // an empty value counts as absent: the external label fills it
    s.add(s.series(exec, ['ls', 'n2']), 1); // the series' own label wins over the external one
    s.set(s.series(s.declare('e', { name: 'rw_up', help: 'h', kind: 'gauge', labelNames: [] }), []), 1);
    const lat = s.declare('e', { name: 'rw_latency_seconds', help: 'h', kind: 'histogram', labelNames: ['Zone'], buckets: [0.1, 1] });
    const h = s.series(lat, ['a']);
    for (const v of [0.05, 0.5, 5]) s.observe(h, v);

    const requests = encodeWriteRequests(new Snapshotter(s, { node: 'host1', region: 'eu' }).take(), TS, 1000);
    expect(requests.map((r) => r.samples)).toEqual([8]);
    const sample = (value: number) => [{ value, timestamp: TS }];
    // Byte order puts upper-case names before __name__, lower-case ones after it.
    const hist = (metric: string, extra: Record<string, string> = {}) =>
      L({ Zone: 'a', __name__: `rw_latency_seconds${metric}`, ...extra, node: 'host1', region: 'eu' });
    expect(decode(requests[0]!.body)).toEqual([
      { labels: L({ __name__: 'rw_exec_total', comm: 'sh', node: 'host1', region: 'eu' }), samples: sample(3) },
      { labels: L({ __name__: 'rw_exec_total', comm: 'ls', node: 'n2', region: 'eu' }), samples: sample(1) },
      { labels: L({ __name__: 'rw_up', node: 'host1', region: 'eu' }), samples: sample(1) },
      { labels: hist('_bucket', { le: '0.1' }), samples: sample(1) },
      { labels: hist('_bucket', { le: '1' }), samples: sample(2) },
      { labels: hist('_bucket', { le: '+Inf' }), samples: sample(3) },
      { labels: hist('_sum'), samples: sample(0.05 + 0.5 + 5) },
      { labels: hist('_count'), samples: sample(3) },
    ]);
  });

  it('splits a snapshot into requests of at most maxSamplesPerRequest samples, in order', () => {
    const s = newStore();
    const m = s.declare('e', { name: 'rw_n', help: 'h', kind: 'gauge', labelNames: ['i'] });
    // Multi-byte UTF-8 and series over 127 bytes (a two-byte length prefix).
    const long = (i: number) => 'é'.repeat(30) + i;
    for (let i = 0; i < 5; i++) s.set(s.series(m, [long(i)]), i);
    const requests = encodeWriteRequests(new Snapshotter(s, {}).take(), TS, 2);
    expect(requests.map((r) => r.samples)).toEqual([2, 2, 1]);
    expect(requests.flatMap((r) => decode(r.body))).toEqual([0, 1, 2, 3, 4].map((i) => ({
      labels: L({ __name__: 'rw_n', i: long(i) }), samples: [{ value: i, timestamp: TS }],
    })));
  });

  it('sends current values on every snapshot, and a stale marker once for a series that disappeared', () => {
    const s = newStore();
    const m = s.declare('e', { name: 'rw_n', help: 'h', kind: 'gauge', labelNames: ['i'] });
    const gone = s.series(m, ['gone']);
    const kept = s.series(m, ['kept']);
    const snap = new Snapshotter(s, {});
    const series = (at: number) => decode(encodeWriteRequests(snap.take(), at, 10)[0]!.body);
    expect(series(1).map((t) => t.samples[0]!.value)).toEqual([0, 0]);

    s.set(kept, 5);
    s.free([gone]);
    const reused = s.series(m, ['new']); // takes the freed id: must not inherit the old labels
    expect(reused).toBe(gone);
    const second = encodeWriteRequests(snap.take(), 2, 10)[0]!.body;
    expect(decode(second).map((t) => [t.labels, t.samples[0]!.timestamp])).toEqual([
      [L({ __name__: 'rw_n', i: 'kept' }), 2],
      [L({ __name__: 'rw_n', i: 'new' }), 2],
      [L({ __name__: 'rw_n', i: 'gone' }), 2],
    ]);
    expect(decode(second).map((t) => t.samples[0]!.value)).toEqual([5, 0, NaN]);
    // Receivers compare the bits (value.IsStaleNaN): any other NaN would be stored as a value.
    expect((uncompressSync(second) as Buffer).includes(Buffer.from('020000000000f07f', 'hex'))).toBe(true);
    expect(Number.isNaN(STALE_NAN)).toBe(true);

    expect(series(3).map((t) => t.labels)).toEqual([L({ __name__: 'rw_n', i: 'kept' }), L({ __name__: 'rw_n', i: 'new' })]);
  });
});

describe('remote write retry policy', () => {
  it.each([
    [200, 'sent'], [204, 'sent'], [400, 'reject'], [401, 'reject'], [404, 'reject'], [409, 'reject'],
    [413, 'reject'], [429, 'retry'], [500, 'retry'], [502, 'retry'], [503, 'retry'], [301, 'reject'],
  ] as const)('treats %i as %s', (status, outcome) => {
    expect(outcomeOf(status)).toBe(outcome);
  });

  const NOW = Date.parse('2024-05-01T12:00:00Z');
  it.each([
    ['1', 1000],
    [' 30 ', 30_000],
    ['0', 0],
    ['Wed, 01 May 2024 12:00:05 GMT', 5000], // IMF-fixdate
    ['Wednesday, 01-May-24 12:00:02 GMT', 2000], // RFC 850
    ['Wed, 01 May 2024 11:00:00 GMT', 0], // in the past: retry now
    ['-1', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['', undefined],
    [null, undefined],
  ])('parses Retry-After %j', (header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });

  it('backs off exponentially within [cap/2, cap], capped at the maximum', () => {
    // Math.random() is in [0, 1): the extremes of the jitter.
    const bounds = (attempt: number) => [backoffMs(attempt, 100, 30_000, () => 0), backoffMs(attempt, 100, 30_000, () => 1)];
    expect(bounds(0)).toEqual([50, 100]);
    expect(bounds(3)).toEqual([400, 800]);
    expect(bounds(20)).toEqual([15_000, 30_000]);
    for (let attempt = 0; attempt < 40; attempt++) {
      const d = backoffMs(attempt, 100, 30_000);
      expect(d).toBeGreaterThanOrEqual(Math.min(30_000, 100 * 2 ** attempt) / 2);
      expect(d).toBeLessThanOrEqual(30_000);
    }
  });
});

describe('RemoteWriter against a receiver', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A store with one exporter counter, and a writer with fast backoff. */
  function setup(url: string, over: Partial<RemoteWriterOptions> = {}) {
    const store = newStore();
    const exec = store.series(store.declare('e', { name: 'rw_exec_total', help: 'h', kind: 'counter', labelNames: ['comm'] }), ['sh']);
    store.add(exec, 7);
    const writer = new RemoteWriter(store, {
      url,
      intervalMs: 60_000,
      timeoutMs: 2000,
      maxQueuedRequests: 10,
      maxSamplesPerRequest: 1000,
      headers: { 'X-Scope-OrgID': 'fleet-a' },
      bearerToken: 's3cret',
      externalLabels: { node: 'host1' },
      refresh: async () => {},
      minBackoffMs: 10,
      maxBackoffMs: 50,
      shutdownGraceMs: 300,
      ...over,
    }, pino({ level: 'silent' }));
    cleanups.push(() => writer.stop());
    return { store, writer };
  }

  async function receiver(answer: (n: number) => Answer) {
    const rx = await startReceiver(answer);
    cleanups.push(rx.close);
    return rx;
  }

  const delivered = (store: SeriesStore) =>
    waitFor('a delivery', async () => (metric(store, 'bpfwasm_remote_write_samples_total') > 0 ? true : undefined), 5000, 10);
  const execSamples = (r: Received) =>
    r.timeseries.filter((t) => t.labels.some((l) => l.name === '__name__' && l.value === 'rw_exec_total'));

  it('speaks the protocol: headers, and a last snapshot sent on stop()', async () => {
    const rx = await receiver(() => ({ status: 204 }));
    const { store, writer } = setup(rx.url);
    await writer.stop();
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0]!.headers).toMatchObject({
      'content-encoding': 'snappy',
      'content-type': 'application/x-protobuf',
      'x-prometheus-remote-write-version': '0.1.0',
      authorization: 'Bearer s3cret',
      'x-scope-orgid': 'fleet-a',
    });
    expect(rx.received[0]!.headers['user-agent']).toMatch(/^bpfwasm\/\d+\.\d+\.\d+$/);
    expect(execSamples(rx.received[0]!)).toEqual([
      { labels: L({ __name__: 'rw_exec_total', comm: 'sh', node: 'host1' }), samples: [{ value: 7, timestamp: expect.any(Number) }] },
    ]);
    for (const reason of ['queue_full', 'rejected', 'shutdown']) {
      expect(metric(store, 'bpfwasm_remote_write_samples_dropped_total', [reason])).toBe(0);
    }
  });

  it('retries 5xx until accepted: delivered once, retries counted, nothing dropped', async () => {
    const rx = await receiver((n) => ({ status: n <= 2 ? 500 : 200 }));
    const { store, writer } = setup(rx.url);
    const samples = await writer.collect();
    await delivered(store);
    expect(rx.received).toHaveLength(3);
    // The same request three times; the receiver stored only the last.
    expect(rx.received[1]!.timeseries).toEqual(rx.received[0]!.timeseries);
    expect(rx.received[2]!.timeseries).toEqual(rx.received[0]!.timeseries);
    expect(execSamples(rx.received[2]!)).toHaveLength(1);
    expect(metric(store, 'bpfwasm_remote_write_samples_total')).toBe(samples);
    expect(metric(store, 'bpfwasm_remote_write_retries_total')).toBe(2);
    expect(metric(store, 'bpfwasm_remote_write_requests_total', ['500'])).toBe(2);
    expect(metric(store, 'bpfwasm_remote_write_requests_total', ['200'])).toBe(1);
    expect(metric(store, 'bpfwasm_remote_write_last_success_timestamp_seconds')).toBeCloseTo(Date.now() / 1000, -1);
    expect(metric(store, 'bpfwasm_remote_write_queue_requests')).toBe(0);
    expect(metric(store, 'bpfwasm_remote_write_samples_queued_total')).toBe(samples);
    expect(metric(store, 'bpfwasm_remote_write_samples_pending')).toBe(0);
    for (const reason of ['queue_full', 'rejected', 'shutdown']) {
      expect(metric(store, 'bpfwasm_remote_write_samples_dropped_total', [reason])).toBe(0);
    }
  });

  it('waits as long as a 429 Retry-After says, not its own shorter backoff', async () => {
    const rx = await receiver((n) => (n === 1 ? { status: 429, headers: { 'Retry-After': '1' } } : { status: 200 }));
    const { store, writer } = setup(rx.url);
    await writer.collect();
    await delivered(store);
    expect(rx.received).toHaveLength(2);
    expect(rx.received[1]!.at - rx.received[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(metric(store, 'bpfwasm_remote_write_requests_total', ['429'])).toBe(1);
    expect(metric(store, 'bpfwasm_remote_write_retries_total')).toBe(1);
  });

  it('drops a request the receiver rejects with 400, without retrying, and moves on', async () => {
    const rx = await receiver((n) => ({ status: n === 1 ? 400 : 200 }));
    const { store, writer } = setup(rx.url);
    const rejected = await writer.collect();
    await waitFor('the rejection', async () =>
      (metric(store, 'bpfwasm_remote_write_samples_dropped_total', ['rejected']) > 0 ? true : undefined), 5000, 10);
    await new Promise((r) => setTimeout(r, 300)); // several backoffs' worth: a retry would have come by now
    expect(rx.received).toHaveLength(1);
    expect(metric(store, 'bpfwasm_remote_write_samples_dropped_total', ['rejected'])).toBe(rejected);
    expect(metric(store, 'bpfwasm_remote_write_retries_total')).toBe(0);
    expect(metric(store, 'bpfwasm_remote_write_requests_total', ['400'])).toBe(1);

    const next = await writer.collect();
    await delivered(store);
    expect(rx.received).toHaveLength(2);
    expect(metric(store, 'bpfwasm_remote_write_samples_total')).toBe(next);
  });

  it('with the receiver down, keeps the newest requests, drops the oldest and counts every sample', async () => {
    const down = `http://127.0.0.1:${await freePort()}/api/v1/write`;
    // A long backoff keeps the first request in flight, so the queue holds exactly the later ones.
    const { store, writer } = setup(down, { maxQueuedRequests: 2, minBackoffMs: 60_000, maxBackoffMs: 60_000 });
    const queuedFull = () => metric(store, 'bpfwasm_remote_write_samples_dropped_total', ['queue_full']);
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) counts.push(await writer.collect());
    const [inFlight, c2, c3, c4, c5] = counts as [number, number, number, number, number];
    expect(metric(store, 'bpfwasm_remote_write_queue_requests')).toBe(2);
    expect(queuedFull()).toBe(c2 + c3);
    expect(metric(store, 'bpfwasm_remote_write_samples_pending')).toBe(inFlight + c4 + c5);

    await waitFor('the first failure', async () =>
      (metric(store, 'bpfwasm_remote_write_requests_total', ['error']) > 0 ? true : undefined), 5000, 10);
    await writer.stop(); // its last snapshot pushes out c4; the grace period ends the rest
    expect(queuedFull()).toBe(c2 + c3 + c4);
    // Dropped at shutdown: the request in flight, c5 and the last snapshot (no smaller than c5).
    const last = metric(store, 'bpfwasm_remote_write_samples_dropped_total', ['shutdown']) - inFlight - c5;
    expect(last).toBeGreaterThanOrEqual(c5);
    expect(metric(store, 'bpfwasm_remote_write_samples_total')).toBe(0);
    expect(metric(store, 'bpfwasm_remote_write_requests_total', ['error'])).toBe(1);
    expect(metric(store, 'bpfwasm_remote_write_queue_requests')).toBe(0);
    // Every sample taken is accounted for: queued = sent + dropped + pending, pending now 0.
    const dropped = ['queue_full', 'rejected', 'shutdown'].reduce((n, r) => n + metric(store, 'bpfwasm_remote_write_samples_dropped_total', [r]), 0);
    expect(metric(store, 'bpfwasm_remote_write_samples_queued_total')).toBe(dropped);
    expect(metric(store, 'bpfwasm_remote_write_samples_pending')).toBe(0);
  });

  it('refuses a URL with credentials at construction', () => {
    expect(() => setup('http://user:pw@127.0.0.1:1/api/v1/write')).toThrow(/must not carry credentials/);
  });
});
