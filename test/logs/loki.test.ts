// The Loki shipper against a receiver that decodes the push API as Loki does: streams and
// labels, timestamps, batching, retries, and the bound: drops counted, writes never waiting.
import snappy from 'snappy';
import protobuf from 'protobufjs';
import { afterEach, describe, expect, it } from 'vitest';
import { LineRing, LokiShipper, pushUrl, toEntry, type LokiShipperOptions } from '../../src/logs/loki.js';
import { SeriesStore } from '../../src/metrics/store.js';
import { decodeProtobuf, startLokiReceiver, type LokiReceiver } from '../../bench/doubles/loki.mjs';
import { waitFor } from '../integration/support/collector.js';

const LABELS = { job: 'bpfwasm', node: 'n1' };
let receiver: LokiReceiver | undefined;
const shippers: LokiShipper[] = [];

afterEach(async () => {
  for (const s of shippers.splice(0)) await s.close(0);
  await receiver?.close();
  receiver = undefined;
});

function shipper(over: Partial<LokiShipperOptions> = {}): LokiShipper {
  const s = new LokiShipper({
    url: receiver!.url, labels: LABELS, batchIntervalMs: 50, maxBufferedLines: 100, timeoutMs: 1000, ...over,
  });
  shippers.push(s);
  return s;
}

const line = (rec: Record<string, unknown>) => `${JSON.stringify({ level: 30, time: 1_700_000_000_123, service: 'bpfwasm', ...rec })}\n`;

/** written = sent + dropped + buffered, whatever happened. */
function expectBalanced(s: LokiShipper): void {
  const c = s.snapshot();
  expect(c.sent + c.dropped.buffer_full + c.dropped.rejected + c.dropped.shutdown + c.buffered).toBe(c.written);
}

describe('LineRing', () => {
  it('keeps the newest lines, drops the oldest, and puts a failed batch back in front', () => {
    const r = new LineRing(3);
    expect([r.push('a'), r.push('b'), r.push('c'), r.push('d')]).toEqual([false, false, false, true]);
    expect(r.take(2)).toEqual(['b', 'c']);
    r.push('e');
    expect(r.unshift(['x', 'y', 'z'])).toBe(2); // one slot free: y's and x's place are lost, z kept
    expect(r.take(10)).toEqual(['z', 'd', 'e']);
    expect(r.size).toBe(0);
  });
});

describe('push URL and entries', () => {
  it('appends the push path to a base URL, keeping a prefix, and accepts the full path', () => {
    expect(pushUrl('http://loki:3100').href).toBe('http://loki:3100/loki/api/v1/push');
    expect(pushUrl('https://gw.example/tenant-a').href).toBe('https://gw.example/tenant-a/loki/api/v1/push');
    expect(pushUrl('http://loki:3100/loki/api/v1/push').href).toBe('http://loki:3100/loki/api/v1/push');
  });

  it('labels by level name and event, and keeps pino\'s millisecond time in nanoseconds', () => {
    expect(toEntry(line({ level: 40, event: 'oom_kill', comm: 'java' }), LABELS)).toEqual({
      labels: { job: 'bpfwasm', node: 'n1', level: 'warn', event: 'oom_kill' },
      ts: '1700000000123000000',
      line: line({ level: 40, event: 'oom_kill', comm: 'java' }).trimEnd(),
    });
    // An event that is not a name (cardinality, label syntax) stays in the line only.
    expect(toEntry(line({ event: 'x'.repeat(65) }), LABELS).labels).toEqual({ ...LABELS, level: 'info' });
    expect(toEntry(line({ event: 42 }), LABELS).labels).toEqual({ ...LABELS, level: 'info' });
    expect(toEntry('not json\n', LABELS, 5).ts).toBe('5000000');
  });
});

describe('LokiShipper', () => {
  it('pushes JSON streams grouped by labels, in order, with auth headers', async () => {
    receiver = await startLokiReceiver();
    const s = shipper({ headers: { Authorization: 'Bearer t0k' } });
    s.start();
    s.write(line({ msg: 'one' }));
    s.write(line({ level: 40, event: 'oom_kill', pid: 7 }));
    s.write(line({ msg: 'two', time: 1_700_000_000_124 }));
    await waitFor('3 entries', async () => (receiver!.entries.length === 3 ? true : undefined), 5000, 10);
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!).toMatchObject({ status: 204, entries: 3 });
    expect(receiver.requests[0]!.headers.authorization).toBe('Bearer t0k');
    expect(receiver.entries.map((e) => [e.labels, e.ts, JSON.parse(e.line).msg ?? JSON.parse(e.line).event])).toEqual([
      [{ ...LABELS, level: 'info' }, 1_700_000_000_123_000_000n, 'one'],
      [{ ...LABELS, level: 'info' }, 1_700_000_000_124_000_000n, 'two'],
      [{ ...LABELS, level: 'warn', event: 'oom_kill' }, 1_700_000_000_123_000_000n, 'oom_kill'],
    ]);
    expect(receiver.entries.every((e) => e.contentType === 'application/json')).toBe(true);
    await waitFor('sent counted', async () => (s.snapshot().sent === 3 ? true : undefined), 2000, 10);
    expect(s.snapshot()).toEqual({ written: 3, sent: 3, dropped: { buffer_full: 0, rejected: 0, shutdown: 0 }, buffered: 0 });
  });

  it('splits a large backlog into requests of maxBatchLines, one at a time', async () => {
    receiver = await startLokiReceiver();
    const s = shipper({ maxBatchLines: 40, maxBufferedLines: 1000 });
    for (let i = 0; i < 100; i++) s.write(line({ i }));
    s.start();
    await waitFor('100 entries', async () => (receiver!.entries.length === 100 ? true : undefined), 5000, 10);
    expect(receiver.requests.map((r) => r.entries)).toEqual([40, 40, 20]);
    expect(receiver.entries.map((e) => JSON.parse(e.line).i)).toEqual([...Array(100).keys()]);
  });

  it('with Loki refusing connections, keeps the newest maxBufferedLines and counts the rest', async () => {
    receiver = await startLokiReceiver();
    const url = receiver.url;
    await receiver.close(); // the port now refuses connections
    const s = shipper({ url, maxBufferedLines: 10 });
    const states: [boolean, string][] = [];
    s.onStateChange = (ok, why) => states.push([ok, why]);
    const store = new SeriesStore({ maxSeriesPerOwner: 100, maxLabelValueBytes: 100, maxSeriesPerMetric: 100, nativeHistograms: false });
    s.bindMetrics(store);
    s.start();
    for (let i = 0; i < 25; i++) s.write(line({ i }));
    await waitFor('a failed push', async () => (states.length ? true : undefined), 5000, 10);
    expect(states).toEqual([[false, expect.stringContaining('ECONNREFUSED')]]);
    const c = s.snapshot();
    expect(c).toMatchObject({ written: 25, sent: 0, buffered: 10 });
    expect(c.dropped.buffer_full).toBe(15);
    expectBalanced(s);
    const text = store.families.map((f) => f.spec.name);
    expect(text).toEqual(expect.arrayContaining(['bpfwasm_log_lines_sent_total', 'bpfwasm_log_lines_dropped_total', 'bpfwasm_log_lines_buffered', 'bpfwasm_log_lines_total']));
  });

  it('with Loki hanging, never waits in write(), times out, retries, and delivers once Loki answers', async () => {
    receiver = await startLokiReceiver();
    receiver.mode = { kind: 'hang' };
    const s = shipper({ maxBufferedLines: 50, timeoutMs: 300 });
    s.start();
    const states: boolean[] = [];
    s.onStateChange = (ok) => states.push(ok);
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++) s.write(line({ i }));
    const writeMs = performance.now() - t0;
    expect(writeMs).toBeLessThan(1000); // O(1) each: no waiting on the hung push
    await waitFor('a timed-out push', async () => (states.length ? true : undefined), 5000, 10);
    expect(s.snapshot().dropped.buffer_full).toBe(20_000 - 50);
    expectBalanced(s);
    receiver.mode = { kind: 'ok' };
    await waitFor('the buffer delivered', async () => (s.snapshot().sent === 50 ? true : undefined), 5000, 10);
    expect(states).toEqual([false, true]);
    // The newest 50 lines, in order (a timed-out push is retried whole).
    expect(receiver.entries.map((e) => JSON.parse(e.line).i)).toEqual([...Array(50).keys()].map((k) => 19_950 + k));
    expect(s.snapshot()).toEqual({ written: 20_000, sent: 50, dropped: { buffer_full: 19_950, rejected: 0, shutdown: 0 }, buffered: 0 });
  });

  it('retries 5xx and 429, drops (and counts) what Loki rejects with another 4xx', async () => {
    receiver = await startLokiReceiver();
    receiver.mode = { kind: 'status', status: 503 };
    const s = shipper();
    s.start();
    for (let i = 0; i < 5; i++) s.write(line({ i }));
    await waitFor('retries', async () => (receiver!.requests.length >= 2 ? true : undefined), 5000, 10);
    receiver.mode = { kind: 'status', status: 429 };
    const n = receiver.requests.length;
    await waitFor('more retries', async () => (receiver!.requests.length >= n + 2 ? true : undefined), 5000, 10);
    expect(s.snapshot()).toMatchObject({ sent: 0, buffered: 5, dropped: { buffer_full: 0, rejected: 0, shutdown: 0 } });
    receiver.mode = { kind: 'status', status: 400, body: 'entry too far behind' };
    await waitFor('rejected', async () => (s.snapshot().dropped.rejected === 5 ? true : undefined), 5000, 10);
    expect(s.snapshot()).toMatchObject({ sent: 0, buffered: 0 });
    expectBalanced(s);
  });

  it('on close, pushes what is buffered, then counts later lines and unsendable ones as shutdown drops', async () => {
    receiver = await startLokiReceiver();
    const ok = shipper({ batchIntervalMs: 60_000 });
    ok.start();
    for (let i = 0; i < 7; i++) ok.write(line({ i }));
    await ok.close(2000);
    expect(receiver.entries).toHaveLength(7);
    ok.write(line({ late: true }));
    expect(ok.snapshot()).toEqual({ written: 8, sent: 7, dropped: { buffer_full: 0, rejected: 0, shutdown: 1 }, buffered: 0 });

    receiver.mode = { kind: 'hang' };
    const hung = shipper({ batchIntervalMs: 60_000, timeoutMs: 60_000 });
    for (let i = 0; i < 4; i++) hung.write(line({ i }));
    const t0 = performance.now();
    await hung.close(300);
    expect(performance.now() - t0).toBeLessThan(2000); // the grace period bounds it, not the timeout
    expect(hung.snapshot()).toEqual({ written: 4, sent: 0, dropped: { buffer_full: 0, rejected: 0, shutdown: 4 }, buffered: 0 });
  });
});

describe('the receiver double', () => {
  it('decodes protobuf+snappy PushRequests as Loki does', async () => {
    const root = protobuf.parse(`syntax = "proto3"; package logproto;
      message PushRequest { repeated StreamAdapter streams = 1; }
      message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
      message EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }
      message LabelPairAdapter { string name = 1; string value = 2; }
      message Timestamp { int64 seconds = 1; int32 nanos = 2; }`).root;
    const T = root.lookupType('logproto.PushRequest');
    const msg = T.encode(T.fromObject({ streams: [{ labels: '{job="a", level="info", q="x\\"y"}', entries: [
      { timestamp: { seconds: 1_700_000_000, nanos: 5 }, line: 'hello', structuredMetadata: [{ name: 'trace_id', value: 'abc' }] },
    ] }] })).finish();
    const entries = decodeProtobuf(snappy.compressSync(Buffer.from(msg)), 'application/x-protobuf');
    expect(entries).toEqual([{
      labels: { job: 'a', level: 'info', q: 'x"y' }, ts: 1_700_000_000_000_000_005n, line: 'hello',
      metadata: { trace_id: 'abc' }, contentType: 'application/x-protobuf',
    }]);
  });

  it('refuses bodies Loki would refuse', async () => {
    receiver = await startLokiReceiver();
    const post = (body: string) => fetch(`${receiver!.url}/loki/api/v1/push`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    expect((await post('{"streams":[{"stream":{"a":"b"},"values":[[1700000000,"x"]]}]}')).status).toBe(400); // ts must be a string
    expect((await post('{"streams":[{"stream":{"a":1},"values":[]}]}')).status).toBe(400);
    expect((await post('{"streams":[{"stream":{"a":"b"},"values":[["1700000000000000000","x"]]}]}')).status).toBe(204);
    expect(receiver.entries).toHaveLength(1);
  });
});
