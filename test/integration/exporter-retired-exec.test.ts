// Exporters built against the retired process_exec_v1 (id 2) keep working: a real collector
// with the real process sensor sends only process_exec (id 19); the runtime derives id-2
// batches from it, and a C exporter built against the 56-byte layout counts every exec of a
// uniquely named program exactly, beside one built against id 19 and the built-in process exporter.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildC } from '../../scripts/build-exporters.mjs';
import { freshTmpDir } from '../exporters/helpers.js';
import { onlySensors, samples, scrape, startCollector, waitFor, waitReady } from './support/collector.js';
import { runTimes, uniqueBinary } from './support/processes.js';

const EXECS = 37;
const dir = join(freshTmpDir('retired-exec'), 'exporters');
const { path: bin, comm } = uniqueBinary('/bin/true', 'bwr');

beforeAll(async () => {
  mkdirSync(dir);
  const source = join(import.meta.dirname, '../exporters/fixtures/comm_counter.c');
  await Promise.all([
    buildC(['-DEXEC_V1', '-DMETRIC="retired_exec_v1_total"', `-DCOMM_PREFIX="${comm}"`, source], join(dir, 'exec_v1.wasm')),
    buildC(['-DMETRIC="retired_exec_v2_total"', `-DCOMM_PREFIX="${comm}"`, source], join(dir, 'exec_v2.wasm')),
  ]);
}, 300_000);

describe('an exporter subscribed to the retired process_exec_v1', () => {
  it('counts every exec exactly, as the id-19 exporter and the built-in process exporter do', async () => {
    const c = await startCollector({ sensors: onlySensors({ process: {} }), exporters: { dirs: [dir] } });
    try {
      await waitReady(c);
      runTimes(bin, EXECS);
      const counts = (m: Map<string, number>) => ({
        v1: samples(m, 'retired_exec_v1_total').get('') ?? 0,
        v2: samples(m, 'retired_exec_v2_total').get('') ?? 0,
        builtin: samples(m, 'bpfwasm_process_exec_total').get(`comm="${comm}"`) ?? 0,
      });
      await waitFor('the execs counted by all three', async () => {
        const m = await scrape(c);
        const n = counts(m);
        return n.v1 >= EXECS && n.v2 >= EXECS && n.builtin >= EXECS ? m : undefined;
      });
      // Let any late batch land: a doubled or derived-twice batch would show as more than EXECS.
      await sleep(1000);
      const m = await scrape(c);
      expect(counts(m)).toEqual({ v1: EXECS, v2: EXECS, builtin: EXECS });
      // The layout check in the fixture returns an error on any record not 56 bytes typed 2 with a zero pad.
      for (const name of ['exec_v1', 'exec_v2']) {
        for (const [labels, n] of samples(m, 'bpfwasm_exporter_errors_total')) if (labels.includes(`exporter="${name}"`)) expect(n, labels).toBe(0);
        for (const [labels, n] of samples(m, 'bpfwasm_exporter_dropped_events_total')) if (labels.includes(`exporter="${name}"`)) expect(n, labels).toBe(0);
      }
      // Every exec record on the host, not only ours, reaches the id-2 exporter: same record counts once both are idle.
      await waitFor('both exporters idle with equal event counts', async () => {
        const events = samples(await scrape(c), 'bpfwasm_exporter_events_total');
        const v1 = events.get('exporter="exec_v1"') ?? 0;
        return v1 >= EXECS && v1 === events.get('exporter="exec_v2"') ? true : undefined;
      });
    } finally {
      expect(await c.stop()).toBe(0);
    }
  }, 120_000);
});
