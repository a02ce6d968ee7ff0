// A real Prometheus, scraping nothing, receives the collector's remote_write: exact counts
// of a uniquely named binary arrive with the node's external label.
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { runTimes, uniqueBinary } from './support/processes.js';
import { startPrometheus, type RunningPrometheus } from './support/prometheus.js';

const RUNS = 50;

describe('remote write into a real Prometheus', () => {
  let p: RunningPrometheus;
  let c: RunningCollector;

  beforeAll(async () => {
    p = await startPrometheus({ config: { scrape_configs: [] }, flags: ['--web.enable-remote-write-receiver'] });
    c = await startCollector({ helper: { statsMs: 200 }, remoteWrite: { url: `${p.url}/api/v1/write`, intervalSeconds: 1 } });
    await waitReady(c);
  });

  afterAll(async () => {
    expect(await c?.stop()).toBe(0);
    await p?.stop();
  });

  it(`stores the exact exec count and lifetime histogram of a binary run ${RUNS} times`, async () => {
    const { path, comm } = uniqueBinary('/bin/true', 'bwrw');
    runTimes(path, RUNS);

    const sel = `{comm="${comm}"}`;
    const value = async (expr: string) => Number((await p.query(expr))[0]?.value[1] ?? NaN);
    await waitFor(`${RUNS} lifetimes in Prometheus`, async () =>
      ((await value(`bpfwasm_process_lifetime_seconds_count${sel}`)) === RUNS ? true : undefined), 20_000, 250);

    const exec = await p.query(`bpfwasm_process_exec_total${sel}`);
    expect(exec).toHaveLength(1);
    expect(Number(exec[0]!.value[1])).toBe(RUNS);
    // Pushed, not scraped: the external label and no job/instance.
    expect(exec[0]!.metric).toEqual({ __name__: 'bpfwasm_process_exec_total', comm, node: hostname() });
    expect(await value(`bpfwasm_process_lifetime_seconds_bucket{comm="${comm}",le="+Inf"}`)).toBe(RUNS);
  });

  it('pushes its own remote write metrics, with nothing dropped', async () => {
    await waitFor('remote write self-metrics in Prometheus', async () =>
      ((await p.query('bpfwasm_remote_write_samples_total > 0')).length === 1 ? true : undefined), 20_000, 250);
    const dropped = await p.query('bpfwasm_remote_write_samples_dropped_total');
    expect(dropped.map((s) => [s.metric.reason, s.value[1]]).sort()).toEqual([['queue_full', '0'], ['rejected', '0'], ['shutdown', '0']]);
  });
});
