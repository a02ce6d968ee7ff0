// The watchdog's backstop, a shared thread terminated because a module's code did not stop past
// its deadline, is counted in bpfwasm_exporter_threads_terminated_total.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { CTL_PHASE, CTL_SINCE_F64, Phase } from '../../src/exporters/protocol.js';
import { ExporterRegistry } from '../../src/exporters/host/registry.js';
import { countThreadTerminations } from '../../src/exporters/host/self-metrics.js';
import { exporterWatchdogClock, type SlotOwner } from '../../src/exporters/host/thread.js';
import { BUILD_DIR, buildAll } from '../../scripts/build-exporters.mjs';
import { loadExporter, seriesId, testHost, valueOf } from './helpers.js';

const METRIC = 'bpfwasm_exporter_threads_terminated_total';
let process: Uint8Array;
beforeAll(async () => {
  await buildAll();
  process = readFileSync(join(BUILD_DIR, 'process.wasm'));
});

describe('thread terminations', () => {
  it('a registry exposes the counter at 0 from the start', async () => {
    const host = testHost();
    const registry = new ExporterRegistry(host);
    expect(seriesId(host.store, METRIC, {})).toBeDefined();
    expect(valueOf(host.store, METRIC, {})).toBe(0);
    await registry.close();
  });

  // With a clock (the collector's), only looks at work still out wait for its ticks: the grace
  // before a thread is terminated keeps its time once the clock stops ticking.
  it.each([['without a clock', false], ['with a clock that stops ticking once the slot is stopped', true]])('%s: counts the thread the watchdog terminates, once, and its neighbour loads again', async (_, clocked) => {
    const clock = clocked ? exporterWatchdogClock() : undefined;
    onTestFinished(() => clock?.stop());
    const host = testHost({ limits: { batchTimeoutMs: 100, quarantineBaseMs: 60_000 } });
    const stop = countThreadTerminations(host.store);
    const e = await loadExporter('stuck', process, host);
    // A neighbour on the same thread keeps it alive once the stuck slot is unloaded.
    const neighbour = await loadExporter('neighbour', readFileSync(join(BUILD_DIR, 'forks.wasm')), host);
    // A slot that looks busy since the epoch and never goes idle: the thread cannot stop it, as
    // with code that does not reach a fuel check, so the watchdog terminates the thread.
    const slot = e as unknown as SlotOwner; // the exporter is its own thread slot's owner
    slot.since[CTL_SINCE_F64] = 0;
    Atomics.store(slot.ctl, CTL_PHASE, Phase.BATCH);
    // The look that finds the overrun may wait for a tick (a slot was still loading at the last look); none comes after it.
    const tickThenState = () => {
      clock?.tick();
      return e.state;
    };
    if (clock) await expect.poll(tickThenState, { timeout: 5000, interval: 50 }).toBe('quarantined');
    await expect.poll(() => valueOf(host.store, METRIC, {}), { timeout: 5000, interval: 50 }).toBe(1);
    expect(e.state).toBe('quarantined');
    await expect.poll(() => neighbour.state, { timeout: 5000 }).toBe('loaded'); // loaded again on a fresh thread
    stop();
    expect(valueOf(host.store, METRIC, {})).toBe(1);
    await e.close();
    await neighbour.close();
  });
});
