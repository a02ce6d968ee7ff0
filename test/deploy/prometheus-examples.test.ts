// The shipped Prometheus examples against a real Prometheus and a running collector: each job of
// deploy/prometheus/federate.yml, pointed at the collector, must store every series family the
// collector has for the sensors it names, and nothing else.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, parseExposition, startCollector, waitFor, waitReady, type RunningCollector } from '../integration/support/collector.js';
import { runTimes, uniqueBinary } from '../integration/support/processes.js';
import { startPrometheus, waitScraped, type RunningPrometheus } from '../integration/support/prometheus.js';

const example = parse(readFileSync(join(ROOT, 'deploy/prometheus/federate.yml'), 'utf8')) as { scrape_configs: Record<string, any>[] };
const { listen: _listen, ...shipped } = parse(
  parse(readFileSync(join(ROOT, 'deploy/kubernetes/configmap.yaml'), 'utf8')).data['config.yaml'],
) as Record<string, unknown>;

// What each job means to select, by family name prefix: the first job the default sensors'
// families (and the opt-in syscalls ones), the helper's up and the sensors' own health.
const INTENDED: Record<string, RegExp> = {
  'bpfwasm-federate': /^bpfwasm_(process_|thread_create_|tcp_|block_io_|runqueue_|oom_|syscall_|sensor_|helper_up$)/,
  'bpfwasm-federate-k8s': /^bpfwasm_/,
};

let collector: RunningCollector;
let prometheus: RunningPrometheus;

/** Some of everything the default sensors see: execs, loopback TCP, synced disk writes. */
async function load(): Promise<void> {
  const { path } = uniqueBinary('/bin/true', 'bwfed');
  runTimes(path, 20);
  const server = createServer((s) => s.end('x'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((r) => connect(port, '127.0.0.1').on('data', () => {}).on('close', () => r()));
  }
  server.close();
  const dir = mkdtempSync(join(ROOT, '.cache', 'fed-io-'));
  execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'f')}`, 'bs=64k', 'count=64', 'oflag=direct', 'status=none']);
  execFileSync('rm', ['-rf', dir]);
}

beforeAll(async () => {
  collector = await startCollector(shipped);
  await waitReady(collector);
  await load();
  const target = collector.url.replace('http://', '');
  // The example as shipped, with only its targets swapped for the running collector.
  const jobs: Record<string, unknown>[] = example.scrape_configs.map(({ static_configs: _s, dns_sd_configs: _d, ...job }) => ({
    ...job, scrape_interval: '1s', scrape_timeout: '1s', static_configs: [{ targets: [target] }],
  }));
  prometheus = await startPrometheus({ config: { scrape_configs: jobs } });
  for (const job of jobs) await waitScraped(prometheus, job.job_name as string);
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await collector?.stop();
});

describe('deploy/prometheus/federate.yml against a real Prometheus and collector', () => {
  it('has the jobs this test knows the intent of', () => {
    expect(example.scrape_configs.map((j) => j.job_name).sort()).toEqual(Object.keys(INTENDED).sort());
  });

  for (const [job, intended] of Object.entries(INTENDED)) {
    it(`${job}: Prometheus stores every family the collector has that the job is meant for, and only those`, async () => {
      const have = [...new Set([...parseExposition(await (await fetch(`${collector.url}/metrics`)).text()).keys()]
        .map((k) => k.replace(/\{.*$/, '')))].filter((n) => intended.test(n)).sort();
      const stored = await waitFor(`${job}'s families in Prometheus`, async () => {
        const r = await prometheus.query(`count by (__name__) ({job="${job}"})`);
        const names = r.map((s) => s.metric.__name__!).filter((n) => n.startsWith('bpfwasm_')).sort();
        return names.length >= have.length ? names : undefined;
      }).catch(async () => (await prometheus.query(`count by (__name__) ({job="${job}"})`)).map((s) => s.metric.__name__!).sort());
      console.log(`${job}: ${stored.length} families stored (collector has ${have.length} it is meant for)`);
      expect(stored).toEqual(have);
      for (const family of ['bpfwasm_process_exec_total', 'bpfwasm_thread_create_total', 'bpfwasm_block_io_bytes_total', 'bpfwasm_runqueue_latency_seconds_bucket', 'bpfwasm_helper_up']) {
        expect(stored, family).toContain(family);
      }
    });
  }
});
