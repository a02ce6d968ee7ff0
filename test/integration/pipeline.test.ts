// End to end on the real kernel: helper → frames → WASM exporters → /metrics, with exact counts.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  onlySensors, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { runTimes, uniqueBinary } from './support/processes.js';

describe('pipeline on the real kernel', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    c = await startCollector({ helper: { statsMs: 200 }, sensors: onlySensors({ process: {} }) });
    await waitReady(c);
  });

  afterAll(async () => {
    expect(await c.stop()).toBe(0);
  });

  it('counts 500 execs of a uniquely named binary exactly, with exits and lifetimes', async () => {
    const bin = uniqueBinary('/bin/true', 'bwt');
    runTimes(bin.path, 500); // one shell loop forks and execs it 500 times

    const label = `comm="${bin.comm}"`;
    const m = await waitFor('500 execs on /metrics', async () => {
      const s = await scrape(c);
      const lifetimes = samples(s, 'bpfwasm_process_lifetime_seconds_count').get(label) ?? 0;
      return lifetimes >= 500 ? s : undefined;
    });
    // Nothing is lost and nothing is counted twice.
    expect(samples(m, 'bpfwasm_process_exec_total').get(label)).toBe(500);
    expect(samples(m, 'bpfwasm_process_exit_total').get(`${label},exit_code="0"`)).toBe(500);
    expect(samples(m, 'bpfwasm_process_lifetime_seconds_count').get(label)).toBe(500);
    expect(samples(m, 'bpfwasm_process_lifetime_seconds_bucket').get(`${label},le="+Inf"`)).toBe(500);
  });

  it('puts a process that sleeps 200 ms and exits 3 in the right exit-code series and lifetime bucket', async () => {
    const sh = uniqueBinary('/bin/sh', 'bws');
    const started = process.hrtime.bigint();
    const r = spawnSync(sh.path, ['-c', 'sleep 0.2; exit 3']);
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    expect(r.status).toBe(3);

    const label = `comm="${sh.comm}"`;
    const m = await waitFor('the exit on /metrics', async () => {
      const s = await scrape(c);
      return samples(s, 'bpfwasm_process_exit_total').has(`${label},exit_code="3"`) ? s : undefined;
    });
    expect(samples(m, 'bpfwasm_process_exit_total').get(`${label},exit_code="3"`)).toBe(1);
    expect(samples(m, 'bpfwasm_process_exec_total').get(label)).toBe(1);
    const buckets = samples(m, 'bpfwasm_process_lifetime_seconds_bucket');
    // The kernel's lifetime lies between the sleep and the wall time the test measured around it.
    expect(buckets.get(`${label},le="0.1"`)).toBe(0);
    const expectedBound = wallSeconds <= 0.25 ? '0.25' : wallSeconds <= 0.5 ? '0.5' : '1';
    expect(buckets.get(`${label},le="${expectedBound}"`)).toBe(1);
    expect(samples(m, 'bpfwasm_process_lifetime_seconds_sum').get(label)).toBeGreaterThanOrEqual(0.2);
    expect(samples(m, 'bpfwasm_process_lifetime_seconds_sum').get(label)).toBeLessThanOrEqual(wallSeconds);
  });

  it('counts signal deaths under the signal name', async () => {
    const sh = uniqueBinary('/bin/sh', 'bwk');
    const r = spawnSync(sh.path, ['-c', 'kill -KILL $$']);
    expect(r.signal).toBe('SIGKILL');
    const label = `comm="${sh.comm}",exit_code="SIGKILL"`;
    await waitFor('the SIGKILL exit', async () => ((samples(await scrape(c), 'bpfwasm_process_exit_total').get(label) ?? 0) === 1 ? true : undefined));
  });

  it('reconciles: records received per type equal records the helper wrote, and no drops', async () => {
    // Between STATS frames, events can be in flight; equality must hold right after one arrives
    // with no new events. Poll until a scrape shows a settled state.
    const m = await waitFor('received == written for every record type', async () => {
      const s = await scrape(c);
      const written = samples(s, 'bpfwasm_helper_records_written_total');
      const received = samples(s, 'bpfwasm_events_received_total');
      if (written.size === 0) return undefined;
      for (const [k, v] of written) if (received.get(k) !== v) return undefined;
      return s;
    }, 20_000, 50);
    const written = samples(m, 'bpfwasm_helper_records_written_total');
    expect([...written.keys()].sort()).toEqual(['type="process_exec"', 'type="process_exit"', 'type="process_fork"']);
    expect(written.get('type="process_exec"')).toBeGreaterThanOrEqual(502);
    const processed = samples(m, 'bpfwasm_events_processed_total');
    for (const [k, v] of samples(m, 'bpfwasm_events_received_total')) expect(processed.get(k), k).toBe(v);

    const drops = samples(m, 'bpfwasm_sensor_ring_drops_total');
    expect(drops.size).toBeGreaterThan(0);
    for (const [k, v] of drops) expect(v, k).toBe(0);
    const submitted = [...samples(m, 'bpfwasm_sensor_events_submitted_total').values()].reduce((a, b) => a + b, 0);
    expect(submitted).toBeGreaterThanOrEqual([...written.values()].reduce((a, b) => a + b, 0));
    for (const name of ['bpfwasm_frames_malformed_total', 'bpfwasm_frames_lost_total', 'bpfwasm_frames_truncated_total']) {
      expect(samples(m, name).get(''), name).toBe(0);
    }
    expect(samples(m, 'bpfwasm_exporter_errors_total').size).toBeGreaterThan(0);
    for (const [k, v] of samples(m, 'bpfwasm_exporter_errors_total')) expect(v, k).toBe(0);
  });

  it('exports per-program BPF run counts and the collector runtime metrics', async () => {
    const m = await scrape(c);
    const runs = samples(m, 'bpfwasm_bpf_program_runs_total');
    expect(runs.get('sensor="process",program="handle_exec"')).toBeGreaterThanOrEqual(502);
    expect(samples(m, 'bpfwasm_helper_up').get('')).toBe(1);
    expect(samples(m, 'bpfwasm_exporter_up').get('exporter="process"')).toBe(1);
    expect(samples(m, 'bpfwasm_exporter_up').get('exporter="forks"')).toBe(1);
    expect(samples(m, 'process_resident_memory_bytes').get('')).toBeGreaterThan(0);
  });
});
