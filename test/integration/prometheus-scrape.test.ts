// A real Prometheus scrapes a real collector and stores exactly what /metrics exported.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUniqueBinary } from './support/activity.js';
import {
  parseExposition, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector,
} from './support/collector.js';
import { startPrometheus, waitScraped, type RunningPrometheus } from './support/prometheus.js';

/** The collector's samples in the format a Prometheus 2.42 without native histograms negotiates. */
async function scrapeOpenMetrics(c: RunningCollector): Promise<Map<string, number>> {
  const res = await fetch(`${c.url}/metrics`, { headers: { accept: 'application/openmetrics-text;version=1.0.0' } });
  expect(res.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
  return parseExposition(await res.text());
}

/** Waits until Prometheus returns `want` for an instant query's single sample. */
async function waitQuery(p: RunningPrometheus, expr: string, want: string): Promise<void> {
  await waitFor(`prometheus: ${expr} = ${want}`, async () => ((await p.query(expr))[0]?.value[1] === want ? true : undefined), 20_000, 250);
}

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

  it('stores exactly the counter and histogram samples the collector exported (OpenMetrics)', async () => {
    const comm = runUniqueBinary(4);
    const sel = `comm="${comm}"`;
    const ours = await waitFor('the exits in /metrics', async () => {
      const m = await scrapeOpenMetrics(c);
      return samples(m, 'bpfwasm_process_lifetime_seconds_count').get(sel) === 4 ? m : undefined;
    });
    const buckets = new Map([...samples(ours, 'bpfwasm_process_lifetime_seconds_bucket')]
      .filter(([labels]) => labels.startsWith(`${sel},`))
      .map(([labels, v]) => [/le="([^"]+)"/.exec(labels)![1]!, v]));
    expect(buckets.get('+Inf')).toBe(4);
    expect(buckets.get('1.0')).toBeDefined(); // OpenMetrics' canonical le, stored as such
    await waitQuery(p, `bpfwasm_process_lifetime_seconds_count{${sel}}`, '4');

    const exec = await p.query(`bpfwasm_process_exec_total{${sel}}`);
    expect(exec.map((s) => Number(s.value[1]))).toEqual([samples(ours, 'bpfwasm_process_exec_total').get(sel)]);
    expect(samples(ours, 'bpfwasm_process_exec_total').get(sel)).toBe(4);
    const theirs = await p.query(`bpfwasm_process_lifetime_seconds_bucket{${sel}}`);
    expect(new Map(theirs.map((s) => [s.metric.le!, Number(s.value[1])]))).toEqual(buckets);
    const sum = await p.query(`bpfwasm_process_lifetime_seconds_sum{${sel}}`);
    expect(Number(sum[0]!.value[1])).toBe(samples(ours, 'bpfwasm_process_lifetime_seconds_sum').get(sel));
  });

  it('scrapes without errors: up is 1 and no sample was rejected', async () => {
    const up = await p.query('up{job="bpfwasm"}');
    expect(up[0]!.value[1]).toBe('1');
    const rejected = await p.query('scrape_samples_scraped{job="bpfwasm"} - scrape_samples_post_metric_relabeling{job="bpfwasm"}');
    expect(Number(rejected[0]!.value[1])).toBe(0);
  });
});

describe('Prometheus ingests native histograms from the collector (protobuf)', () => {
  let c: RunningCollector;
  let p: RunningPrometheus;

  beforeAll(async () => {
    c = await startCollector({ helper: { statsMs: 200 }, metrics: { nativeHistograms: true } });
    await waitReady(c);
    p = await startPrometheus({
      config: { scrape_configs: [{ job_name: 'bpfwasm', static_configs: [{ targets: [c.url.replace('http://', '')] }] }] },
      flags: ['--enable-feature=native-histograms'], // 2.42 then asks for protobuf, the only format with native histograms
    });
    await waitScraped(p, 'bpfwasm');
  });

  afterAll(async () => {
    await p?.stop();
    await c?.stop();
  });

  it('histogram_count and histogram_sum equal the count and sum the collector exported', async () => {
    const comm = runUniqueBinary(5);
    const sel = `comm="${comm}"`;
    const ours = await waitFor('the exits in /metrics', async () => {
      const m = await scrape(c);
      return samples(m, 'bpfwasm_process_lifetime_seconds_count').get(sel) === 5 ? m : undefined;
    });
    await waitQuery(p, `histogram_count(bpfwasm_process_lifetime_seconds{${sel}})`, '5');
    const sum = await p.query(`histogram_sum(bpfwasm_process_lifetime_seconds{${sel}})`);
    expect(Number(sum[0]!.value[1])).toBe(samples(ours, 'bpfwasm_process_lifetime_seconds_sum').get(sel));
    // Every observation is in a native bucket: the fraction at or below +Inf is all of them.
    const all = await p.query(`histogram_fraction(0, +Inf, bpfwasm_process_lifetime_seconds{${sel}})`);
    expect(all[0]!.value[1]).toBe('1');
    // Counters come through protobuf too, unchanged.
    const exec = await p.query(`bpfwasm_process_exec_total{${sel}}`);
    expect(Number(exec[0]!.value[1])).toBe(samples(ours, 'bpfwasm_process_exec_total').get(sel));
  });

  it('scrapes without errors: up is 1 and no sample was rejected', async () => {
    expect((await p.query('up{job="bpfwasm"}'))[0]!.value[1]).toBe('1');
    const rejected = await p.query('scrape_samples_scraped{job="bpfwasm"} - scrape_samples_post_metric_relabeling{job="bpfwasm"}');
    expect(Number(rejected[0]!.value[1])).toBe(0);
  });
});
