// /federate against the real thing: Prometheus A scrapes /metrics and answers its own /federate;
// for every selector, our /federate must return the same set of series as A's. Prometheus B
// federates from us, and must store exactly what we returned, with our external labels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { runTimes, uniqueBinary } from './support/processes.js';
import { startPrometheus, waitScraped, type RunningPrometheus } from './support/prometheus.js';

const IGNORED = new Set(['job', 'instance', 'node']); // the scraper's labels, and our external one

/** A series as `name{a="x",b="y"}`, labels sorted, scraper and external labels left out. */
function seriesKey(name: string, labels: Record<string, string>): string {
  const kept = Object.entries(labels).filter(([k, v]) => !IGNORED.has(k) && k !== '__name__' && v !== '').sort();
  return `${name}{${kept.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
}

/** The series of a /federate text answer (ours or Prometheus'), sorted. */
function federatedSeries(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!m) throw new Error(`unparsable line ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.add(seriesKey(m[1]!, labels));
  }
  return [...out].sort();
}

async function federate(base: string, selectors: string[]): Promise<string[]> {
  const q = selectors.map((s) => `match[]=${encodeURIComponent(s)}`).join('&');
  const res = await fetch(`${base}/federate?${q}`);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${base}/federate answered ${res.status}: ${body}`);
  return federatedSeries(body);
}

/** Polls until both sides agree (A scrapes every second), then asserts on the last answers. */
async function expectSameSeries(ours: () => Promise<string[]>, theirs: () => Promise<string[]>): Promise<string[]> {
  let last: [string[], string[]] = [[], []];
  for (let i = 0; i < 40; i++) {
    last = await Promise.all([ours(), theirs()]);
    if (JSON.stringify(last[0]) === JSON.stringify(last[1])) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(last[0]).toEqual(last[1]);
  return last[0];
}

describe('/federate selects exactly what Prometheus does', () => {
  let c: RunningCollector;
  let a: RunningPrometheus;
  let b: RunningPrometheus;
  const one = uniqueBinary('/bin/true', 'bwfa');
  const two = uniqueBinary('/bin/true', 'bwfb');
  const [c1, c2] = [one.comm, two.comm];
  /** Each selector, and whether it should select anything. */
  const selectors: [string, boolean][] = [
    [`bpfwasm_process_exec_total{comm="${c1}"}`, true],
    [`bpfwasm_process_exit_total{comm="${c2}",exit_code!="1"}`, true],
    [`{__name__=~"bpfwasm_process_lifetime_seconds_(sum|count)",comm=~"${c1}|${c2}"}`, true],
    [`bpfwasm_process_exec_total{comm=~"bwf[ab]${c1.slice(4, -4)}.*",comm!~"${c1}"}`, true],
    // A label no series has is "": it matches "" and nothing else.
    [`bpfwasm_process_exec_total{comm="${c1}",nolabel=""}`, true],
    [`bpfwasm_process_exec_total{comm="${c1}",nolabel!=""}`, false],
    // Regexes are anchored: a prefix of the value, or of the name, is no match.
    [`bpfwasm_process_exec_total{comm=~"${c1.slice(0, -2)}"}`, false],
    [`{__name__=~"bpfwasm_process_exec",comm="${c1}"}`, false],
    [`bpfwasm_process_exec_total{comm=~"(?i)${c2.toUpperCase()}"}`, true],
    // Buckets are series of their own, told apart by le.
    [String.raw`bpfwasm_process_lifetime_seconds_bucket{comm="${c2}",le=~"\\+Inf|0\\.001"}`, true],
    ['{__name__="bpfwasm_helper_up"}', true],
    ['bpfwasm_sensor_attached{sensor=~"proc.*"}', true],
  ];

  beforeAll(async () => {
    c = await startCollector({ helper: { statsMs: 200 }, federate: { externalLabels: { node: 'it-node' } } });
    await waitReady(c);
    runTimes(one.path, 5);
    runTimes(two.path, 3);
    await waitFor('both commands counted', async () => {
      const exec = samples(await scrape(c), 'bpfwasm_process_lifetime_seconds_count');
      return exec.get(`comm="${c1}"`) === 5 && exec.get(`comm="${c2}"`) === 3 ? true : undefined;
    });
    const target = c.url.replace('http://', '');
    [a, b] = await Promise.all([
      startPrometheus({
        config: { scrape_configs: [{ job_name: 'direct', honor_labels: true, static_configs: [{ targets: [target] }] }] },
      }),
      startPrometheus({
        config: {
          scrape_configs: [{
            job_name: 'federate',
            honor_labels: true,
            metrics_path: '/federate',
            params: { 'match[]': selectors.map(([s]) => s) },
            static_configs: [{ targets: [target] }],
          }],
        },
      }),
    ]);
    await Promise.all([waitScraped(a, 'direct'), waitScraped(b, 'federate')]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await c?.stop();
  });

  it('returns, for each selector, the series Prometheus\' own /federate returns', async () => {
    for (const [selector, some] of selectors) {
      const got = await expectSameSeries(() => federate(c.url, [selector]), () => federate(a.url, [selector]));
      expect(got.length > 0, `${selector} → ${JSON.stringify(got)}`).toBe(some);
    }
  });

  it('returns the union of several match[]', async () => {
    const union = selectors.map(([s]) => s);
    const got = await expectSameSeries(() => federate(c.url, union), () => federate(a.url, union));
    expect(got).toContain(`bpfwasm_process_exec_total{comm="${c1}"}`);
    expect(got).toContain(`bpfwasm_process_exec_total{comm="${c2}"}`);
    expect(got).toContain(`bpfwasm_process_lifetime_seconds_bucket{comm="${c2}",le="+Inf"}`);
    expect(got.filter((s) => s.startsWith('bpfwasm_process_exec_total'))).toHaveLength(2);
  });

  it('answers a bad selector with 400 and the message Prometheus gives', async () => {
    for (const bad of ['foo{%}', 'up{job=~"(?=x)"}', 'up{job="\\q"}', 'foo bar']) {
      const q = `match[]=${encodeURIComponent(bad)}`;
      const [ours, theirs] = await Promise.all([fetch(`${c.url}/federate?${q}`), fetch(`${a.url}/federate?${q}`)]);
      expect([ours.status, theirs.status]).toEqual([400, 400]);
      expect(((await ours.json()) as { message: string }).message).toBe((await theirs.text()).trim());
    }
  });

  it('lets a federating Prometheus store exactly the selected series, with our external labels', async () => {
    const expected = await federate(c.url, selectors.map(([s]) => s));
    const stored = await waitFor('B to store the federated series', async () => {
      const series = await b.api<Record<string, string>[]>('series', { 'match[]': '{__name__=~"bpfwasm_.+"}' });
      const keys = [...new Set(series.map((l) => seriesKey(l.__name__!, l)))].sort();
      return JSON.stringify(keys) === JSON.stringify(expected) ? series : undefined;
    }, 15_000, 250);
    for (const labels of stored) expect(labels).toMatchObject({ node: 'it-node', job: 'federate' });
    const rejected = await b.query('scrape_samples_scraped{job="federate"} - scrape_samples_post_metric_relabeling{job="federate"}');
    expect(Number(rejected[0]!.value[1])).toBe(0);
  });
});
