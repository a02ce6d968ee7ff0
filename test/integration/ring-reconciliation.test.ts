// Loss is never silent: a sensor with a one-page ring is flooded until the kernel drops
// events, and every event the BPF programs produced is accounted for exactly: delivered to the
// collector, or counted as a ring drop. BPF_ENABLE_STATS run counts bound the total from an
// independent kernel counter.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, samples, scrape, startCollector, waitFor, waitReady, onlySensors, type RunningCollector } from './support/collector.js';

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/** Runs bench/storm.c's thread storm: `workers` threads creating and joining threads for `seconds`. */
async function threadStorm(seconds: number, workers: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-storm-'));
  const storm = join(dir, 'storm');
  execFileSync('clang', ['-O2', '-pthread', '-o', storm, join(ROOT, 'bench/storm.c')]);
  const child = spawn(storm, [String(seconds), String(workers), 'threads'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((ok) => child.on('exit', ok));
  return Number(out.trim());
}

describe('ring-buffer loss is counted exactly', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    // One page of ring, and a wakeup only when it is nearly full: a thread storm overflows it.
    c = await startCollector({
      sensors: onlySensors({ process: { ringBytes: 4096 } }),
      helper: { wakeupBytes: 4032, pollMs: 50 },
    });
    await waitReady(c);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('produced in the kernel = processed by the collector + counted as dropped', async () => {
    const threads = await threadStorm(2, 2);
    expect(threads).toBeGreaterThan(1000);

    // A settled state: a STATS frame arrived after the last event, and nothing since.
    const m = await waitFor('kernel, helper and collector counts to settle', async () => {
      const s = await scrape(c);
      const submitted = sum(samples(s, 'bpfwasm_sensor_events_submitted_total'));
      const written = sum(samples(s, 'bpfwasm_helper_records_written_total'));
      const received = sum(samples(s, 'bpfwasm_events_received_total'));
      return submitted > 0 && submitted === written && written === received ? s : undefined;
    }, 30_000, 50);

    const drops = sum(samples(m, 'bpfwasm_sensor_ring_drops_total'));
    const submitted = sum(samples(m, 'bpfwasm_sensor_events_submitted_total'));
    const received = sum(samples(m, 'bpfwasm_events_received_total'));
    const processed = sum(samples(m, 'bpfwasm_events_processed_total'));
    expect(drops, 'the flood overflowed the one-page ring').toBeGreaterThan(0);
    expect(processed).toBe(received);
    expect(submitted + drops, 'every storm thread was attempted').toBeGreaterThanOrEqual(threads);

    // Independent kernel count: fork and exec programs reserve on every run, exit only for
    // thread-group leaders, so runs bound the attempts from both sides.
    const runs = samples(m, 'bpfwasm_bpf_program_runs_total');
    const run = (p: string) => runs.get(`sensor="process",program="${p}"`)!;
    expect(run('handle_fork')).toBeGreaterThanOrEqual(threads);
    expect(submitted + drops).toBeGreaterThanOrEqual(run('handle_fork') + run('handle_exec'));
    expect(submitted + drops).toBeLessThanOrEqual(run('handle_fork') + run('handle_exec') + run('handle_exit'));
    // Drops are per CPU, and the other stages lost nothing.
    expect([...samples(m, 'bpfwasm_sensor_ring_drops_total').keys()].every((k) => /^sensor="process",cpu="\d+"$/.test(k))).toBe(true);
    for (const name of ['bpfwasm_frames_malformed_total', 'bpfwasm_frames_lost_total']) expect(samples(m, name).get(''), name).toBe(0);
  });
});
