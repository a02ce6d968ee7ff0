// StreamEvents on the real kernel: every exec reaches a reading client, and a client that reads
// one message a second during a fork storm loses events, counted and told, while the pipeline's
// own counts stay exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient, EventsReply } from '../../src/api/client.js';
import { onlySensors, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { apiClient, runTimesAsync, SlowEventReader, waitForStreams } from './support/api.js';
import { uniqueBinary } from './support/processes.js';

describe('StreamEvents on the real kernel', () => {
  let c: RunningCollector;
  let client: ApiClient;

  beforeAll(async () => {
    // A queue that holds the first test's 200 execs even if the reading client stalls for a moment
    // on a loaded machine, and is far smaller than the storm's 9000 events.
    c = await startCollector({ helper: { statsMs: 200 }, sensors: onlySensors({ process: {} }), api: { streamQueueEvents: 1024 } });
    await waitReady(c);
    client = apiClient(c);
  });

  afterAll(async () => {
    client?.close();
    expect(await c.stop()).toBe(0);
  });

  it('delivers every process_exec of 200 uniquely named processes, decoded', async () => {
    const bin = uniqueBinary('/bin/true', 'bwa');
    const stream = client.streamEvents({ types: ['process_exec'] });
    const mine: EventsReply[] = [];
    const others = new Set<string>();
    stream.on('data', (r: EventsReply) => {
      if (r.item !== 'event' || !('event' in r)) return;
      if (r.event.comm === bin.comm) mine.push(r);
      else others.add(r.event.type);
    });
    stream.on('error', () => { /* cancelled below */ });
    await waitForStreams(c, 1);
    await runTimesAsync(bin.path, 200);
    await waitFor('200 execs on the stream', async () => (mine.length >= 200 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300)); // nothing more may come: no duplicates
    stream.cancel();
    expect(mine).toHaveLength(200);
    expect(new Set(mine.map((r) => ('event' in r ? r.event.tgid : 0))).size).toBe(200);
    const first = (mine[0] as { event: { type: string; fields: Record<string, string>; pid: number; tgid: number } }).event;
    expect(first.type).toBe('process_exec');
    expect(first.pid).toBe(first.tgid);
    expect(Number(first.fields.ppid)).toBeGreaterThan(1);
    expect([...others].every((t) => t === 'process_exec')).toBe(true);
    await waitForStreams(c, 0);
  });

  it('a client reading one message a second loses events, is told how many, and the pipeline loses none', async () => {
    const bin = uniqueBinary('/bin/true', 'bws');
    const reader = new SlowEventReader(c.apiSocket, { types: ['process_fork', 'process_exec', 'process_exit'] });
    await waitForStreams(c, 1);
    const received: NonNullable<ReturnType<SlowEventReader['readOne']>>[] = [];
    const take = () => {
      const r = reader.readOne();
      if (r) received.push(r);
      return r;
    };
    const slow = setInterval(take, 1000);
    const storm = 3000;
    try {
      await runTimesAsync(bin.path, storm);
    } finally {
      clearInterval(slow);
    }
    const readDuringStorm = received.length;

    // The pipeline saw and handed on every event, whatever the stream dropped.
    const label = `comm="${bin.comm}"`;
    await waitFor('the storm on /metrics', async () => {
      const s = await scrape(c);
      return (samples(s, 'bpfwasm_process_exit_total').get(`${label},exit_code="0"`) ?? 0) >= storm ? s : undefined;
    }, 60_000);
    const settled = await waitFor('received == processed', async () => {
      const s = await scrape(c);
      const rec = samples(s, 'bpfwasm_events_received_total');
      const proc = samples(s, 'bpfwasm_events_processed_total');
      return [...rec].every(([k, v]) => proc.get(k) === v) ? s : undefined;
    });
    expect(samples(settled, 'bpfwasm_process_exec_total').get(label)).toBe(storm);
    expect(samples(settled, 'bpfwasm_process_exit_total').get(`${label},exit_code="0"`)).toBe(storm);
    for (const t of ['process_fork', 'process_exec', 'process_exit']) {
      expect(samples(settled, 'bpfwasm_events_processed_total').get(`type="${t}"`)).toBe(samples(settled, 'bpfwasm_events_received_total').get(`type="${t}"`));
    }
    expect([...samples(settled, 'bpfwasm_sensor_ring_drops_total').values()].every((v) => v === 0)).toBe(true);

    // Now read fast: the queued events, then the loss report (sent once the queue is empty).
    let quiet = 0;
    await waitFor('the stream to drain', async () => {
      let n = 0;
      while (take()) n++;
      quiet = n === 0 ? quiet + 1 : 0;
      return quiet >= 3 ? true : undefined;
    }, 30_000, 200);
    reader.close();
    const lost = received.reduce((n, r) => n + (r.lost ? Number(r.lost.count) : 0), 0);
    expect(readDuringStorm).toBeLessThan(15);
    expect(lost).toBeGreaterThan(storm);
    const after = await scrape(c);
    expect(samples(after, 'bpfwasm_api_stream_dropped_events_total').get('')).toBe(lost);
    // Events came first, then the queue filled: a loss report is never the first message.
    expect(received[0]!.event).toBeDefined();
    await waitForStreams(c, 0);
  });
});
