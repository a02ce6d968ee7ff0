// Dead comms leave /metrics after the idle TTL, without a restart, and come back from zero.
import { describe, expect, it } from 'vitest';
import { samples, scrape, startCollector, waitFor, waitReady } from './support/collector.js';
import { runTimes, uniqueBinary } from './support/processes.js';

describe('idle series expiry', () => {
  it('removes a comm idle for seriesTtlSeconds, counts it, and counts it afresh when it returns', async () => {
    const c = await startCollector({ metrics: { seriesTtlSeconds: 2 } });
    try {
      await waitReady(c);
      const { path: bin, comm } = uniqueBinary('/bin/true', 'bwx');
      const run = (n: number) => runTimes(bin, n);
      const label = `comm="${comm}"`;

      run(3);
      await waitFor('3 execs', async () => (samples(await scrape(c), 'bpfwasm_process_exec_total').get(label) === 3 ? true : undefined));
      const gone = await waitFor('the idle series to expire', async () => {
        const m = await scrape(c);
        return samples(m, 'bpfwasm_process_exec_total').has(label) ? undefined : m;
      }, 15_000, 200);
      expect(samples(gone, 'bpfwasm_process_lifetime_seconds_count').has(label)).toBe(false);
      expect(samples(gone, 'bpfwasm_exporter_series_expired_total').get('exporter="process"')).toBeGreaterThanOrEqual(3);

      run(2);
      await waitFor('2 fresh execs', async () => (samples(await scrape(c), 'bpfwasm_process_exec_total').get(label) === 2 ? true : undefined));
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });
});
