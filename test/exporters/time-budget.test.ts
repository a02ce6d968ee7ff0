// Time isolation (issue #16, case 7): what a batch may cost the main thread is bounded, and
// time spent in host calls counts against the batch deadline. Measured on this machine before
// the fix, 20 batches of each module: the update flood (20 × 65,536 ops per batch) took +1.2 GB
// RSS and 1.7 s of main-thread time with 70 ms stalls; 100k `series` calls on a foreign id per
// batch took 62 s of main-thread time, 100k `resolve` misses 53 s. After: ≤ 10 ms stalls and
// tens of ms of main-thread time in all.
import { describe, expect, it } from 'vitest';
import { RESOLVE_MISSES_PER_BATCH, UPDATE_OPS_PER_BATCH, UPDATE_OPS_PER_RECORD } from '../../src/exporters/abi.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { encodeBatch, loadExporter, seriesId, testHost, valueOf } from './helpers.js';
import { foreignSeriesLoop, lagProbe, resolveLoop, updateFlood } from './hostile.js';

const EXEC = RecordType.process_exec;
// 56-byte records, so 4000 of them stay one batch under the 1 MiB batch limit (an exec is 456 bytes).
const FORK = RecordType.process_fork;
const BATCHES = 20;
const one = encodeBatch(EXEC, [{ comm: 'x' }]);

/** Hands BATCHES one-record batches at once (they travel together) and waits for them. */
async function storm(e: { onBatch(t: number, p: Uint8Array, n: number): void; flush(): Promise<void> }) {
  const rss = process.memoryUsage().rss;
  const probe = lagProbe();
  for (let i = 0; i < BATCHES; i++) e.onBatch(EXEC, one, 1);
  await e.flush();
  return { ...probe.stop(), rssGrowth: process.memoryUsage().rss - rss };
}

describe('what one batch may cost the main thread', () => {
  it('an update flood: operations past the allowance are refused and counted, the main thread never stalls', async () => {
    const host = testHost({ limits: { queueBatches: BATCHES } });
    const e = await loadExporter('flood', updateFlood(EXEC, 65536, 20), host);
    const cost = await storm(e);
    expect(e.batches).toBe(BATCHES);
    const allowance = UPDATE_OPS_PER_BATCH + UPDATE_OPS_PER_RECORD; // one record per batch
    expect(host.store.value(seriesId(host.store, 'flood', {})!)).toBe(BATCHES * allowance);
    expect(e.rejectedOps).toBe(BATCHES * (20 * 65536 - allowance));
    expect(valueOf(host.store, 'bpfwasm_exporter_errors_total', { exporter: 'flood', kind: 'rejected_update' })).toBe(e.rejectedOps);
    expect(e.lastError).toBe('update: more than 1028 operations in one batch; 65536 refused');
    expect({ errors: e.errors, traps: e.traps, timeouts: e.timeouts }).toEqual({ errors: 0, traps: 0, timeouts: 0 });
    // Before: 70 ms stalls, 1.7 s of main-thread time, +1.2 GB RSS. Generous bounds for a loaded CI machine.
    expect(cost.maxLagMs).toBeLessThan(50);
    expect(cost.busyMs).toBeLessThan(300);
    expect(cost.rssGrowth).toBeLessThan(64 << 20);
  });

  it('the allowance grows with the batch: 4 operations more per record', async () => {
    const host = testHost();
    const e = await loadExporter('flood', updateFlood(FORK, 65536, 1), host);
    const records = 4000;
    e.onBatch(FORK, encodeBatch(FORK, Array.from({ length: records }, () => ({ comm: 'x' }))), records);
    await e.flush();
    expect(host.store.value(seriesId(host.store, 'flood', {})!)).toBe(1024 + 4 * records);
    expect(e.rejectedOps).toBe(65536 - 1024 - 4 * records);
  });

  it('series on a metric id that is not its own is answered in the worker (ENOTFOUND), never by the main thread', async () => {
    const host = testHost({ limits: { queueBatches: BATCHES } });
    const e = await loadExporter('foreign', foreignSeriesLoop(EXEC, 100_000), host);
    const cost = await storm(e);
    expect(e.rejectedCalls).toBe(BATCHES * 100_000);
    expect(e.lastError).toBe("series: metric 9999 is not one of this exporter's (-6)");
    expect(e.timeouts).toBe(0);
    // Before: 62 s of main-thread time for these 20 batches.
    expect(cost.maxLagMs).toBeLessThan(50);
    expect(cost.busyMs).toBeLessThan(300);
  });

  it('resolve: past the misses a batch may have, ELIMIT without asking the host; found names come from the worker\'s cache', async () => {
    const asked: bigint[] = [];
    const host = { ...testHost({ limits: { queueBatches: BATCHES } }), resolve: (_kind: number, id: bigint) => {
      asked.push(id);
      return id === 100_000n ? 'root' : undefined;
    } };
    const e = await loadExporter('resolver', resolveLoop(EXEC, 100_000), host);
    const cost = await storm(e);
    // Each batch asks for ids 100000 down to 1: the first is found once (then cached), the next
    // RESOLVE_MISSES_PER_BATCH are asked and not found, every later call is refused unasked.
    expect(asked.length).toBe(1 + BATCHES * RESOLVE_MISSES_PER_BATCH);
    expect(e.rejectedCalls).toBe(BATCHES * (100_000 - 1 - RESOLVE_MISSES_PER_BATCH));
    expect(e.lastError).toBe('resolve: more than 64 names not found in one batch; ask again in a later one (-4)');
    // Before: 53 s of main-thread time for these 20 batches.
    expect(cost.maxLagMs).toBeLessThan(50);
    expect(cost.busyMs).toBeLessThan(300);
  });
});

describe('host-call time counts against the batch deadline', () => {
  it('a batch whose host calls take longer than batchTimeoutMs is terminated, with the deadline in the message', async () => {
    // Every answer takes the main thread 5 ms; 100 of them per batch overrun 250 ms.
    const host = {
      ...testHost({ limits: { batchTimeoutMs: 250, quarantineBaseMs: 60_000 } }),
      resolve: () => {
        const until = performance.now() + 5;
        while (performance.now() < until);
        return 'slow';
      },
    };
    const e = await loadExporter('slowhost', resolveLoop(EXEC, 100), host);
    e.onBatch(EXEC, one, 1);
    for (let t = 0; t < 200 && e.timeouts === 0; t++) await new Promise((r) => setTimeout(r, 10));
    expect(e.timeouts).toBe(1);
    expect(e.state).toBe('quarantined');
    expect(e.lastError).toBe('slowhost: bpfwasm_on_batch did not return within 250 ms (exporters.batchTimeoutMs); its call was stopped');
  });
});
