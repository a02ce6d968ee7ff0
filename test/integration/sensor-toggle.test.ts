// Each sensor can be disabled in config, and then nothing of it is loaded: the BPF programs the
// collector's helper holds (its fds, named through bpftool) are exactly the enabled sensors'.
import { beforeAll, describe, expect, it } from 'vitest';
import { SENSORS } from '../../src/config.js';
import { helperPrograms, onlySensors, samples, scrape, startCollector, waitFor, waitReady } from './support/collector.js';

/** Runs a collector with exactly `enabled`: sensor → programs (its run stats) and the programs its helper holds. */
async function loadedWith(enabled: readonly string[]) {
  const sensors = onlySensors(Object.fromEntries(enabled.map((s) => [s, s === 'syscalls' ? { comm: 'no-such-comm' } : {}])));
  const c = await startCollector({ sensors });
  try {
    await waitReady(c);
    const runs = await waitFor('program run counts', async () => {
      const m = samples(await scrape(c), 'bpfwasm_bpf_program_runs_total');
      return m.size > 0 ? m : undefined;
    });
    const bySensor = new Map<string, string[]>();
    for (const key of runs.keys()) {
      const [, sensor, program] = /^sensor="([^"]+)",program="([^"]+)"$/.exec(key)!;
      bySensor.set(sensor!, [...(bySensor.get(sensor!) ?? []), program!]);
    }
    return { bySensor, held: helperPrograms(c) };
  } finally {
    await c.stop();
  }
}

describe('enabling and disabling sensors', () => {
  let all: Awaited<ReturnType<typeof loadedWith>>;
  beforeAll(async () => {
    all = await loadedWith(SENSORS);
  }, 60_000);

  it('with every sensor enabled, the helper holds every sensor\'s programs and nothing else', () => {
    expect([...all.bySensor.keys()].sort()).toEqual([...SENSORS].sort());
    expect(all.held).toEqual([...all.bySensor.values()].flat().sort());
  });

  it.each(SENSORS.map((s) => [s]))('with %s disabled, none of its programs is loaded', async (disabled) => {
    const programs = all.bySensor;
    const without = await loadedWith(SENSORS.filter((s) => s !== disabled));
    expect(without.bySensor.has(disabled)).toBe(false);
    expect(without.held).toEqual([...programs].filter(([s]) => s !== disabled).flatMap(([, p]) => p).sort());
    for (const p of programs.get(disabled)!) expect(without.held).not.toContain(p);
  }, 60_000);
});
