// A real collector with the real helper: a user exporter that loops forever in every batch
// call subscribes to the same exec records as the built-in process exporter. It must be
// terminated and quarantined again and again while the process exporter counts every exec
// exactly and /metrics keeps answering within 100 ms.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildC } from '../../scripts/build-exporters.mjs';
import { freshTmpDir, scrapeLoop } from '../exporters/helpers.js';
import { foreignSeriesLoop, updateFlood } from '../exporters/hostile.js';
import { abiModule } from '../exporters/wasm-module.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { UPDATE_OPS_PER_BATCH, UPDATE_OPS_PER_RECORD } from '../../src/exporters/abi.js';
import { onlySensors, samples, scrape, startCollector, waitFor, waitReady } from './support/collector.js';
import { uniqueBinary } from './support/processes.js';

const dir = join(freshTmpDir('isolation'), 'exporters');
const hostileDir = join(freshTmpDir('isolation'), 'hostile');

/** Peak resident memory of a process, in bytes. */
function peakRss(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** Runs `path` `times` times from one shell loop, without blocking this test's scraper. */
async function runTimes(path: string, times: number): Promise<void> {
  await promisify(execFile)('/bin/sh', ['-c', `i=0; while [ $i -lt ${times} ]; do "${path}"; i=$((i+1)); done`]);
}

beforeAll(async () => {
  mkdirSync(dir);
  await buildC([join(import.meta.dirname, '../exporters/fixtures/faults/batch_loop.c')], join(dir, 'spinner.wasm'));
  mkdirSync(hostileDir);
  const exec = RecordType.process_exec;
  writeFileSync(join(hostileDir, 'tables.wasm'), abiModule({ tables: Array.from({ length: 20 }, () => ({ min: 10_000_000 })) }));
  writeFileSync(join(hostileDir, 'flood.wasm'), updateFlood(exec, 65536, 20));
  writeFileSync(join(hostileDir, 'foreign.wasm'), foreignSeriesLoop(exec, 100_000));
});

describe('exporter isolation on a real pipeline', () => {
  it('quarantines a looping exporter while the process exporter counts every exec and /metrics answers', async () => {
    const c = await startCollector({
      sensors: onlySensors({ process: {} }),
      exporters: { dirs: [dir], batchTimeoutMs: 200, quarantineBaseMs: 200, quarantineMaxMs: 400 },
    });
    try {
      await waitReady(c);
      const { path: bin, comm } = uniqueBinary('/bin/true', 'bwi');
      const scrapes = await scrapeLoop(`${c.url}/metrics`, 50);
      const runs = 5;
      for (let i = 0; i < runs; i++) {
        await runTimes(bin, 40);
        await sleep(300);
      }
      const m = await waitFor('every exec counted and the spinner restarted', async () => {
        const m = await scrape(c);
        const counted = samples(m, 'bpfwasm_process_exec_total').get(`comm="${comm}"`);
        const restarts = samples(m, 'bpfwasm_exporter_restarts_total').get('exporter="spinner"') ?? 0;
        return counted === runs * 40 && restarts >= 1 ? m : undefined;
      });
      expect(samples(m, 'bpfwasm_exporter_errors_total').get('exporter="spinner",kind="timeout"')).toBeGreaterThanOrEqual(2);
      expect(samples(m, 'bpfwasm_exporter_dropped_events_total').get('exporter="spinner",reason="aborted"')).toBeGreaterThan(0);
      for (const reason of ['queue_full', 'not_running', 'aborted']) {
        expect(samples(m, 'bpfwasm_exporter_dropped_events_total').get(`exporter="process",reason="${reason}"`)).toBe(0);
      }
      expect(samples(m, 'bpfwasm_exporter_state').get('exporter="process",state="loaded"')).toBe(1);
      expect(c.output()).toMatch(/bpfwasm_on_batch did not return within 200 ms/);
      await scrapes.stop(); // 90% within 100 ms, none near a deadline
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });

  it('the hostile modules of issue #16: a table bomb refused, an update flood and a foreign-series loop bounded', async () => {
    // Before: the table bomb alone took the collector from 0.3 to 5.8 GB; the flood stalled its main thread 0.4-0.6 s.
    const c = await startCollector({ sensors: onlySensors({ process: {} }), exporters: { dirs: [hostileDir] } });
    try {
      await waitReady(c);
      const { path: bin, comm } = uniqueBinary('/bin/true', 'bwh');
      const scrapes = await scrapeLoop(`${c.url}/metrics`, 50);
      for (let i = 0; i < 5; i++) await runTimes(bin, 40);
      const m = await waitFor('every exec counted', async () => {
        const m = await scrape(c);
        return samples(m, 'bpfwasm_process_exec_total').get(`comm="${comm}"`) === 200 ? m : undefined;
      });
      const errors = samples(m, 'bpfwasm_exporter_errors_total');
      const batches = samples(m, 'bpfwasm_exporter_batches_total');
      expect(samples(m, 'bpfwasm_exporter_state').get('exporter="tables",state="failed"')).toBe(1);
      expect(c.output()).toMatch(/tables: it declares memory 2 pages \(128 KiB\), tables of 200000000 entries \(6 GiB\), above its budget/);
      // Each flood batch applied exactly its allowance (UPDATE_OPS_PER_BATCH + 4 per record), the rest refused and counted.
      const floodBatches = batches.get('exporter="flood"')!;
      expect(floodBatches).toBeGreaterThan(0);
      const floodEvents = samples(m, 'bpfwasm_exporter_events_total').get('exporter="flood"')!;
      const allowed = floodBatches * UPDATE_OPS_PER_BATCH + UPDATE_OPS_PER_RECORD * floodEvents;
      expect(samples(m, 'flood').get('')).toBe(allowed);
      expect(errors.get('exporter="flood",kind="rejected_update"')).toBe(floodBatches * 20 * 65536 - allowed);
      expect(errors.get('exporter="foreign",kind="rejected_call"')).toBe(batches.get('exporter="foreign"')! * 100_000);
      for (const e of ['flood', 'foreign']) expect(errors.get(`exporter="${e}",kind="timeout"`)).toBe(0);
      expect(peakRss(c.proc.pid!)).toBeLessThan(1 << 30);
      await scrapes.stop();
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });
});
