// Batches reach an exporter thread through a shared-memory ring, never a message each, and the
// ones that pile up while it is busy run in one wake-up, whose results come back once (through
// the results ring, or one message) (src/exporters/ring.ts, results.ts, thread.ts); every guarantee of one call per batch still holds:
// order, exact counts, the queue bound, per-call deadlines, per-batch traps, aborts.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { ExporterThread, exporterWatchdogClock, holdExporterWakeups, wakeExporterThreads } from '../../src/exporters/host/thread.js';
import { ResultsReader } from '../../src/exporters/results.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { BUILD_DIR, buildAll, buildC } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, loadExporter, seriesId, testHost, valueOf, type TestHost } from './helpers.js';

// process_fork: 56-byte records, the smallest the helper writes, which the 1 MiB split below counts on.
const FORK = RecordType.process_fork;
const EXEC = RecordType.process_exec;
const out = freshTmpDir('coalescing');
let wasm: Uint8Array;

beforeAll(async () => {
  await Promise.all([buildAll(), buildC([join(import.meta.dirname, 'fixtures', 'batches.c')], join(out, 'batches.wasm'))]);
  wasm = readFileSync(join(out, 'batches.wasm'));
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** `count` records with consecutive pids from `firstPid`; `comm` picks the fixture's behaviour. */
function records(firstPid: number, count: number, comm = 'ok'): Uint8Array {
  return encodeBatch(FORK, Array.from({ length: count }, (_, i) => ({ comm, pid: firstPid + i })));
}

/**
 * Counts from now on the batch messages posted to workers (none: batches go through the ring) and
 * the wake-ups answered: each one's results, read from the results ring or carried by a `done` message.
 */
function countMessages(): { messages: number; wakeups: number; batches: number } {
  const seen = { messages: 0, wakeups: 0, batches: 0 };
  const post = Worker.prototype.postMessage;
  vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (this: Worker, m: unknown, transfer?: readonly Transferable[]) {
    if ((m as { t?: string }).t === 'batches') seen.messages++;
    return post.call(this, m, transfer as never);
  });
  const read = ResultsReader.prototype.read;
  vi.spyOn(ResultsReader.prototype, 'read').mockImplementation(function (this: ResultsReader, payload: Uint8Array, n: number) {
    const r = read.call(this, payload, n);
    seen.wakeups++;
    seen.batches += r.statuses.length;
    return r;
  });
  const emit = Worker.prototype.emit;
  vi.spyOn(Worker.prototype, 'emit').mockImplementation(function (this: Worker, event: string | symbol, ...args: unknown[]) {
    const m = args[0] as { t?: string; results?: readonly { statuses: readonly number[] }[] } | undefined;
    // A `done` without results only wakes the main thread to read the results ring.
    if (event === 'message' && m?.t === 'done' && m.results!.length !== 0) {
      seen.wakeups++;
      for (const r of m.results!) seen.batches += r.statuses.length;
    }
    return emit.call(this, event, ...args);
  });
  return seen;
}

async function load(limits: TestHost['limits'] = {}): Promise<{ host: TestHost; e: Exporter }> {
  const host = testHost({ limits });
  const e = await loadExporter('batches', wasm, host);
  return { host, e };
}

const value = (host: TestHost, metric: string, labels: Record<string, string> = {}) => valueOf(host.store, metric, labels);
const durations = (host: TestHost) =>
  host.store.histogram(seriesId(host.store, 'bpfwasm_exporter_batch_duration_seconds', { exporter: 'batches' })!).count;

/** Counts the watchdog's looks (ExporterThread.check) under the name `where()` gives at each call. */
function countChecks<K extends string>(names: readonly K[], where: () => K): Record<K, number> {
  const counts = Object.fromEntries(names.map((n) => [n, 0])) as Record<K, number>;
  const check = ExporterThread.prototype.check;
  vi.spyOn(ExporterThread.prototype, 'check').mockImplementation(function (this: ExporterThread, now: number) {
    counts[where()]++;
    return check.call(this, now);
  });
  return counts;
}

async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('batch coalescing', () => {
  it('runs a batch handed to an idle thread at once, alone', async () => {
    const { host, e } = await load();
    const seen = countMessages();
    for (let i = 0; i < 3; i++) {
      e.onBatch(FORK, records(1 + i * 4, 4), 4);
      await e.flush();
    }
    expect(seen).toEqual({ messages: 0, wakeups: 3, batches: 3 });
    expect({ batches: e.batches, events: e.events }).toEqual({ batches: 3, events: 12 });
    expect(value(host, 'batches_calls_total')).toBe(3);
  });

  it('runs the batches handed over while one runs in one wake-up, each in order and counted', async () => {
    const { host, e } = await load({ queueBatches: 1000 });
    const seen = countMessages();
    // Encoded first, so handing them over takes far less than the slow batch runs.
    const rest: [Uint8Array, number][] = [];
    let pid = 2;
    let events = 1;
    for (let i = 0; i < 199; i++) {
      const n = 1 + (i % 7);
      rest.push([records(pid, n), n]);
      pid += n;
      events += n;
    }
    e.onBatch(FORK, records(1, 1, 'S'), 1); // slow: the rest arrive while it runs
    for (const [batch, n] of rest) e.onBatch(FORK, batch, n);
    await e.flush();
    expect(seen.messages).toBe(0);
    expect(seen.wakeups).toBeLessThanOrEqual(2);
    expect(seen.batches).toBe(200);
    expect({ batches: e.batches, events: e.events, dropped: e.dropped }).toEqual({
      batches: 200, events, dropped: { queue_full: 0, not_running: 0, aborted: 0 },
    });
    // The module ran each batch once, in the order handed over.
    expect(value(host, 'batches_calls_total')).toBe(200);
    expect(value(host, 'batches_events_total')).toBe(events);
    expect(value(host, 'batches_disorder_total')).toBe(0);
    // Self metrics are per batch call, not per message.
    expect(value(host, 'bpfwasm_exporter_batches_total', { exporter: 'batches' })).toBe(200);
    expect(value(host, 'bpfwasm_exporter_events_total', { exporter: 'batches' })).toBe(events);
    expect(durations(host)).toBe(200);
    expect(value(host, 'bpfwasm_exporter_queued_batches', { exporter: 'batches' })).toBe(0);
  });

  it('keeps batches the ring has no room for in order until it has', async () => {
    const { host, e } = await load({ queueBatches: 1000 });
    const seen = countMessages();
    e.onBatch(FORK, records(1, 1, 'S'), 1);
    const per = 2000; // 112 000 bytes: 40 fork batches are more than the 4 MiB ring holds
    for (let i = 0; i < 40; i++) e.onBatch(FORK, records(2 + i * per, per), per);
    await e.flush();
    expect(seen.batches).toBe(41);
    expect(seen.wakeups).toBeGreaterThanOrEqual(2);
    expect(e.events).toBe(1 + 40 * per);
    expect(value(host, 'batches_disorder_total')).toBe(0);
  });

  it('wakes a sleeping thread once for the batches of one read of the helper, not once per frame', async () => {
    const { host, e } = await load();
    e.onBatch(FORK, records(1, 4), 4);
    await e.flush(); // the first batch declares its series: that answer is a message
    await new Promise((r) => setTimeout(r, 100)); // the thread back asleep in its wait
    const seen = countMessages();
    const notify = vi.spyOn(Atomics, 'notify');
    // What the collector does around each read of the helper's socket, here with three frames.
    holdExporterWakeups();
    for (let i = 0; i < 3; i++) e.onBatch(FORK, records(5 + i * 4, 4), 4);
    expect(notify).not.toHaveBeenCalled();
    wakeExporterThreads();
    expect(notify).toHaveBeenCalledTimes(1);
    await e.flush();
    expect(seen).toEqual({ messages: 0, wakeups: 1, batches: 3 });
    expect({ batches: e.batches, events: e.events }).toEqual({ batches: 4, events: 16 });
    expect(value(host, 'batches_disorder_total')).toBe(0);
    // Nothing handed over since: the next read's wake-up notifies nobody.
    holdExporterWakeups();
    wakeExporterThreads();
    expect(notify).toHaveBeenCalledTimes(1);
  });

  it('runs every batch of a held read that overfills the ring, in order, once woken', async () => {
    const { host, e } = await load({ queueBatches: 1000 });
    await new Promise((r) => setTimeout(r, 100));
    holdExporterWakeups();
    const per = 2000; // 40 batches of 112 000 bytes: more than the 4 MiB ring, the rest wait in overflow
    for (let i = 0; i < 40; i++) e.onBatch(FORK, records(1 + i * per, per), per);
    wakeExporterThreads();
    await e.flush();
    expect({ batches: e.batches, events: e.events, dropped: e.dropped }).toEqual({
      batches: 40, events: 40 * per, dropped: { queue_full: 0, not_running: 0, aborted: 0 },
    });
    expect(value(host, 'batches_disorder_total')).toBe(0);
  });

  it('applies results nobody waits for through the results ring, at the watchdog\'s look, with no message', async () => {
    const { host, e } = await load({ batchTimeoutMs: 30_000 });
    e.onBatch(FORK, records(1, 4), 4);
    await e.flush(); // the first batch declares its series: that answer is a message
    const seen = countMessages();
    e.onBatch(FORK, records(5, 4), 4);
    // No further batch, no reader, no flush(): only the thread's results ring and the watchdog's look.
    await until('the batch applied', () => e.batches === 2, 2500); // RESULTS_MAX_WAIT_MS (1 s) and a margin
    expect(seen).toEqual({ messages: 0, wakeups: 1, batches: 1 });
    // That one answer was read from the ring, not carried by a message.
    expect(vi.mocked(ResultsReader.prototype.read)).toHaveBeenCalledTimes(1);
    expect({ batches: e.batches, events: e.events }).toEqual({ batches: 2, events: 8 });
    expect(value(host, 'batches_calls_total')).toBe(2);
  });

  it('wakes the main thread for results at most once a second during a stream of frames 100 ms apart', async () => {
    const { e } = await load({ batchTimeoutMs: 30_000 });
    e.onBatch(FORK, records(1, 4), 4);
    await e.flush();
    const check = vi.spyOn(ExporterThread.prototype, 'check');
    // 9 frames over 0.9 s: the look armed by the first is due 1 s after it.
    for (let i = 0; i < 9; i++) {
      e.onBatch(FORK, records(5 + i * 4, 4), 4);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(check).not.toHaveBeenCalled();
    // Once the stream stops, the last results are applied without a reader (the watchdog's look).
    await until('the last batch applied', () => e.batches === 10, 2500);
    expect(check.mock.calls.length).toBeLessThanOrEqual(2);
    expect(e.events).toBe(40);
  });

  it('wakes the main thread for the watchdog only while work is out: never when idle, and at most once a second in a stream', async () => {
    const { e } = await load({ batchTimeoutMs: 250 });
    e.onBatch(FORK, records(1, 4), 4);
    await e.flush();
    let inRead = false;
    const checks = countChecks(['inRead', 'byTimer'], () => (inRead ? 'inRead' : 'byTimer'));
    // Idle for 1.5 s: at most the one check armed by the last batch (it used to look every 250 ms, 6 times).
    await new Promise((r) => setTimeout(r, 1500));
    expect(checks.byTimer).toBeLessThanOrEqual(1);
    checks.byTimer = 0;
    // 15 reads of the helper 100 ms apart, as the collector makes them: a read's batch arms the timer only
    // when it is not set (one comparison), and it fires once a second at most (RESULTS_MAX_WAIT_MS; the
    // 250 ms deadline is each batch's own fuel check), re-armed only with work out.
    for (let i = 0; i < 15; i++) {
      inRead = true;
      holdExporterWakeups();
      e.onBatch(FORK, records(5 + i * 4, 4), 4);
      wakeExporterThreads();
      inRead = false;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(checks.inRead).toBe(0);
    expect(checks.byTimer).toBeGreaterThanOrEqual(1);
    expect(checks.byTimer).toBeLessThanOrEqual(2);
    await e.flush();
    expect({ batches: e.batches, events: e.events }).toEqual({ batches: 16, events: 64 });
  });

  it('with a clock (the collector\'s 1 s tick), its looks during a stream ride on the ticks: none on a timer of its own', async () => {
    const { e } = await load({ batchTimeoutMs: 250 });
    e.onBatch(FORK, records(1, 4), 4);
    await e.flush();
    await new Promise((r) => setTimeout(r, 1100)); // the look armed by that batch has come and gone
    const clock = exporterWatchdogClock();
    let inTick = false;
    const checks = countChecks(['inTick', 'byTimer'], () => (inTick ? 'inTick' : 'byTimer'));
    const tick = () => {
      inTick = true;
      clock.tick();
      inTick = false;
    };
    try {
      // 15 reads 100 ms apart, a tick every 500 ms (more often than the collector's, to keep this short).
      for (let i = 0; i < 15; i++) {
        holdExporterWakeups();
        e.onBatch(FORK, records(5 + i * 4, 4), 4);
        wakeExporterThreads();
        await new Promise((r) => setTimeout(r, 100));
        if (i % 5 === 4) tick();
      }
      expect(checks.byTimer).toBe(0);
      expect(checks.inTick).toBe(3);
      // Results nobody read are applied at a tick: the last one's, or the next if the last batch was still out then.
      await new Promise((r) => setTimeout(r, 200));
      tick();
      expect({ batches: e.batches, events: e.events }).toEqual({ batches: 16, events: 64 });
      const looks = checks.inTick;
      expect(looks).toBeLessThanOrEqual(4);
      // Nothing out: a tick looks at nothing.
      tick();
      expect(checks.inTick).toBe(looks);
    } finally {
      clock.stop();
    }
    // Without a clock, a batch's look has a timer of its own again.
    e.onBatch(FORK, records(65, 4), 4);
    await until('the batch applied by the watchdog\'s own timer', () => e.batches === 17, 2500);
    expect(checks.byTimer).toBeGreaterThanOrEqual(1);
  });

  it('counts the queue in batches, pending included, and drops exactly the events past it', async () => {
    const { host, e } = await load({ queueBatches: 10 });
    e.onBatch(FORK, records(1, 1, 'S'), 1);
    for (let i = 0; i < 30; i++) e.onBatch(FORK, records(2 + i * 3, 3), 3);
    // 1 in flight + 9 pending fill the queue; the 21 others are dropped at once.
    expect(e.dropped.queue_full).toBe(21 * 3);
    expect(value(host, 'bpfwasm_exporter_queued_batches', { exporter: 'batches' })).toBe(10);
    await e.flush();
    expect({ batches: e.batches, events: e.events }).toEqual({ batches: 10, events: 1 + 9 * 3 });
    expect(value(host, 'batches_events_total')).toBe(1 + 9 * 3);
    expect(value(host, 'bpfwasm_exporter_dropped_events_total', { exporter: 'batches', reason: 'queue_full' })).toBe(63);
    // Room again once the worker caught up.
    e.onBatch(FORK, records(29, 2), 2);
    await e.flush();
    expect(e.events).toBe(30);
    expect(value(host, 'batches_disorder_total')).toBe(0);
  });

  it('counts every event in flight or pending as aborted when the worker is terminated', async () => {
    const { host, e } = await load({ batchTimeoutMs: 200, quarantineBaseMs: 60_000 });
    e.onBatch(FORK, records(1, 2, 'L'), 2); // never returns
    for (let i = 0; i < 20; i++) e.onBatch(FORK, records(3 + i * 5, 5), 5);
    await until('the deadline', () => e.timeouts === 1);
    await e.flush(); // released by the abort
    expect(e.state).toBe('quarantined');
    expect({ batches: e.batches, events: e.events, dropped: e.dropped }).toEqual({
      batches: 0, events: 0, dropped: { queue_full: 0, not_running: 0, aborted: 2 + 20 * 5 },
    });
    expect(value(host, 'bpfwasm_exporter_dropped_events_total', { exporter: 'batches', reason: 'aborted' })).toBe(102);
    expect(value(host, 'bpfwasm_exporter_queued_batches', { exporter: 'batches' })).toBe(0);
    e.onBatch(FORK, records(1, 1), 1);
    expect(e.dropped.not_running).toBe(1);
  });

  it('gives each call in a wake-up its own deadline, not the wake-up as a whole', async () => {
    const { e } = await load({ batchTimeoutMs: 60_000 });
    // How long one slow call takes on this machine, now.
    const t0 = performance.now();
    e.onBatch(FORK, records(1, 1, 'S'), 1);
    await e.flush();
    const one = performance.now() - t0;
    await e.close();
    // A deadline well above one call, and a wake-up of calls well above the deadline.
    const deadline = Math.ceil(4 * one + 50);
    const calls = Math.ceil((3 * deadline) / one) + 1;
    const { host: h2, e: e2 } = await load({ batchTimeoutMs: deadline });
    const seen = countMessages();
    e2.onBatch(FORK, records(1, 1), 1);
    for (let i = 0; i < calls; i++) e2.onBatch(FORK, records(2 + i, 1, 'S'), 1);
    await e2.flush();
    expect(seen.wakeups).toBeLessThanOrEqual(2);
    expect({ timeouts: e2.timeouts, state: e2.state, batches: e2.batches, aborted: e2.dropped.aborted }).toEqual({
      timeouts: 0, state: 'loaded', batches: calls + 1, aborted: 0,
    });
    const sum = h2.store.histogram(seriesId(h2.store, 'bpfwasm_exporter_batch_duration_seconds', { exporter: 'batches' })!).sum;
    expect(sum * 1000).toBeGreaterThan(deadline); // the wake-up as a whole overran it
  });

  it('counts traps and errors per batch, and judges a trap storm batch by batch', async () => {
    const { host, e } = await load({ maxConsecutiveTraps: 3, quarantineBaseMs: 60_000 });
    e.onBatch(FORK, records(1, 1, 'S'), 1);
    const mixed = ['T', 'ok', 'T', 'T', 'E', 'ok', 'T'];
    mixed.forEach((comm, i) => { e.onBatch(FORK, records(2 + i, 1, comm), 1); });
    await e.flush();
    expect({ traps: e.traps, errors: e.errors, batches: e.batches, events: e.events, state: e.state }).toEqual({
      traps: 4, errors: 1, batches: 8, events: 8, state: 'loaded',
    });
    expect(value(host, 'bpfwasm_exporter_errors_total', { exporter: 'batches', kind: 'trap' })).toBe(4);
    expect(value(host, 'bpfwasm_exporter_errors_total', { exporter: 'batches', kind: 'returned_error' })).toBe(1);

    // A good slow batch, then six traps in one wake-up: the storm is called at the third trap;
    // all six ran, so all are counted.
    e.onBatch(FORK, records(10, 1, 'S'), 1);
    for (let i = 0; i < 6; i++) e.onBatch(FORK, records(11 + i, 1, 'T'), 1);
    await until('the trap storm', () => e.state === 'quarantined');
    expect(e.lastError).toBe('batches: trapped in 3 batches in a row (last: bpfwasm_on_batch trapped: unreachable)');
    expect(e.traps).toBe(10);
    expect(e.batches).toBe(15);
    expect(e.dropped.aborted).toBe(0);
  });

  it('runs the batches pending when forget() is called before the forget, so a series they touch stays', async () => {
    const host = testHost();
    const store = host.store;
    const e = await loadExporter('process', readFileSync(join(BUILD_DIR, 'process.wasm')), host);
    const exec = (comm: string, n = 1) => encodeBatch(EXEC, Array.from({ length: n }, () => ({ comm })));
    e.onBatch(EXEC, exec('old', 3), 3);
    await e.flush();
    store.now = 100;
    e.onBatch(EXEC, exec('fresh'), 1);
    await e.flush();
    const idle = store.idleSeries('process', 50);
    expect(idle.map((id) => store.seriesLabels[id])).toEqual(['comm="old"']);

    e.onBatch(EXEC, exec('fresh'), 1); // in flight
    e.onBatch(EXEC, exec('old'), 1); // pending behind it, handed over before the forget
    expect(await e.forget(idle)).toBe(true);
    await e.flush();
    // Run after the forget, it would have found "old" forgotten and started it again from zero.
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'old' })).toBe(4);
    expect(valueOf(store, 'bpfwasm_process_exec_total', { comm: 'fresh' })).toBe(2);
  });
});
