// Issue #16 case 1 on a real collector: with exporters.maxSeriesPerExporter far below the
// collector's own series (pipeline, per-CPU sensor counters, exporter self metrics), the first
// batches are counted, the collector keeps running, and /metrics stays valid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promtoolCheck } from '../support/exposition-check.js';
import { runUniqueBinary } from './support/activity.js';
import { samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';

describe('a small exporters.maxSeriesPerExporter', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    c = await startCollector({ exporters: { maxSeriesPerExporter: 100 } });
    await waitReady(c);
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('leaves the collector\'s own series out of each exporter\'s budget: batches flow, /metrics stays valid', async () => {
    const comm = runUniqueBinary(3);
    const m = await waitFor('the execs in /metrics', async () => {
      const s = await scrape(c);
      return samples(s, 'bpfwasm_process_exec_total').get(`comm="${comm}"`) === 3 ? s : undefined;
    });
    expect(samples(m, 'bpfwasm_exporter_batches_total').get('exporter="process"')).toBeGreaterThan(0);
    const own = [...m.keys()].filter((k) => /^(bpfwasm_(sensor|exporter|events|helper|bpf)_|process_|nodejs_)/.test(k));
    expect(own.length).toBeGreaterThan(100); // the collector's own samples alone are past the budget
    expect(c.proc.exitCode).toBeNull();
    const check = promtoolCheck(await (await fetch(`${c.url}/metrics`)).text());
    expect({ status: check.status, output: check.output }).toEqual({ status: 0, output: '' });
  });
});
