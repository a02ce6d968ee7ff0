// A real Prometheus scrapes a real collector and stores exactly what /metrics exported.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samples, scrape, startCollector, waitReady, type RunningCollector } from './support/collector.js';
import { startPrometheus, waitScraped, type RunningPrometheus } from './support/prometheus.js';

describe('Prometheus scrapes the collector', () => {
  let c: RunningCollector;
  let p: RunningPrometheus;

  beforeAll(async () => {
    c = await startCollector({ helper: { statsMs: 200 } });
    await waitReady(c);
    p = await startPrometheus({
      config: { scrape_configs: [{ job_name: 'bpfwasm', static_configs: [{ targets: [c.url.replace('http://', '')] }] }] },
    });
    await waitScraped(p, 'bpfwasm');
  });

  afterAll(async () => {
    await p?.stop();
    await c?.stop();
  });

  it('stores the same value for a series the collector exported', async () => {
    // A counter that no longer changes: the helper's load time is set once at start.
    const ours = samples(await scrape(c), 'bpfwasm_helper_load_seconds').get('');
    const theirs = await p.query('bpfwasm_helper_load_seconds');
    expect(theirs).toHaveLength(1);
    expect(Number(theirs[0]!.value[1])).toBe(ours);
    expect(theirs[0]!.metric).toMatchObject({ job: 'bpfwasm', instance: c.url.replace('http://', '') });
  });

  it('scrapes without errors: up is 1 and no sample was rejected', async () => {
    const up = await p.query('up{job="bpfwasm"}');
    expect(up[0]!.value[1]).toBe('1');
    const rejected = await p.query('scrape_samples_scraped{job="bpfwasm"} - scrape_samples_post_metric_relabeling{job="bpfwasm"}');
    expect(Number(rejected[0]!.value[1])).toBe(0);
  });
});
