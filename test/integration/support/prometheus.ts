// Runs Debian's real Prometheus on loopback with a generated config, and queries its HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitFor } from './collector.js';

export const PROMETHEUS = '/usr/bin/prometheus';
export { PROMTOOL } from '../../support/exposition-check.js';

export interface RunningPrometheus {
  url: string;
  proc: ChildProcess;
  output(): string;
  /** GET /api/v1/<path> with query parameters; throws unless status is "success". */
  api<T = unknown>(path: string, params?: Record<string, string | string[]>): Promise<T>;
  /** An instant query's vector result. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** The `scrape_configs` list (and anything else) for prometheus.yml. */
  config: Record<string, unknown>;
  /** Extra flags, e.g. `--enable-feature=native-histograms` or `--web.enable-remote-write-receiver`. */
  flags?: string[];
}

export async function startPrometheus(opts: PrometheusOptions): Promise<RunningPrometheus> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-prom-'));
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, stringify({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, ...opts.config }));
  const proc = spawn(PROMETHEUS, [
    `--config.file=${file}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    ...(opts.flags ?? []),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((ok) => proc.on('exit', () => ok()));
  const url = `http://127.0.0.1:${port}`;

  const api = async <T>(path: string, params: Record<string, string | string[]> = {}): Promise<T> => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const item of [v].flat()) q.append(k, item);
    const res = await fetch(`${url}/api/v1/${path}?${q}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };

  await waitFor('prometheus ready', async () => {
    if (proc.exitCode !== null) throw new Error(`prometheus exited ${proc.exitCode}: ${out}`);
    const res = await fetch(`${url}/-/ready`);
    return res.status === 200 ? true : undefined;
  });

  return {
    url,
    proc,
    output: () => out,
    api,
    query: async (expr) => (await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>('query', { query: expr })).result,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits until Prometheus has scraped a target at least once and reports it up. */
export async function waitScraped(p: RunningPrometheus, job: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(`prometheus to scrape job ${job}`, async () => {
    const r = await p.query(`up{job="${job}"}`);
    return r.length > 0 && r.every((s) => s.value[1] === '1') ? true : undefined;
  }, timeoutMs, 250);
}
