// The dashboards return data: a real collector with every sensor enabled (syscalls scoped to
// one comm) under a generated load — processes, loopback TCP, retransmits, disk writes with
// fsync, CPU contention, one cgroup OOM kill, failing syscalls — scraped every second by
// Debian's Prometheus, and every panel query and template variable of dashboards/*.json sent
// through the Prometheus HTTP API with Grafana's variables substituted.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT, SERVER, STALLING_CLIENT, VethPair, lineOf, perl } from '../../ebpf/tcp/peers.js';
import { loadDashboards, metricNames, panelsOf, queriesOf, substitute, type Query } from '../dashboards/promql.js';
import { createMemoryCgroup, type MemoryCgroup } from './support/cgroups.js';
import { ROOT, parseExposition, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { runTimes, uniqueBinary } from './support/processes.js';
import { startPrometheus, waitScraped, type RunningPrometheus } from './support/prometheus.js';

/** What the scrape config's `node` label says, as a federation or a relabeling would set it. */
const NODE = `dash-node-${process.pid}`;
/** Short enough for a 1 s scrape interval and a load of a few seconds. */
const RATE_INTERVAL = '5s';

const dashboards = loadDashboards();
const queries = dashboards.flatMap((d) => queriesOf(d.dash));

type Series = { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] };

describe('dashboards against a real Prometheus scraping a real collector under load', () => {
  let tmp: string;
  let net: VethPair;
  let cg: MemoryCgroup | undefined;
  let c: RunningCollector;
  let p: RunningPrometheus;
  let target: string;
  let loadStart: number;
  const hogs: ChildProcess[] = [];
  const comms = { cat: '', oom: '', retransmit: '' };

  const vars = (): Record<string, string> => ({
    node: NODE,
    instance: target,
    exporter: 'process',
    metric: 'bpfwasm_process_exec_total',
    __rate_interval: RATE_INTERVAL,
    __interval: '1s',
    __range: `${Math.ceil(Date.now() / 1000 - loadStart) + 5}s`,
  });

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-dash-'));
    const cat = uniqueBinary('/bin/cat', 'dcat');
    comms.cat = cat.comm;
    net = new VethPair(`bd${process.pid.toString(36)}`.slice(0, 8), (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    net.create();
    // A shadow candidate of the process exporter (another version of the same module), for the rollout dashboard.
    const shadowDir = join(tmp, 'exporters');
    mkdirSync(shadowDir);
    const processWasm = readFileSync(join(ROOT, 'exporters/build/process.wasm'));
    writeFileSync(join(shadowDir, 'process.shadow.wasm'), Buffer.concat([processWasm, Buffer.from([0, 6, 5, ...Buffer.from('dash1')])]));
    c = await startCollector({
      helper: { statsMs: 200, aggregateMs: 250 },
      sensors: { syscalls: { enabled: true, comm: cat.comm } }, // every other sensor is on by default
      exporters: { dirs: [shadowDir] },
    });
    await waitReady(c);
    target = c.url.replace('http://', '');
    p = await startPrometheus({
      config: {
        scrape_configs: [
          { job_name: 'bpfwasm', static_configs: [{ targets: [target], labels: { node: NODE } }] },
          { job_name: 'bpfwasm-shadow', metrics_path: '/metrics/shadow', static_configs: [{ targets: [target], labels: { node: NODE } }] },
        ],
      },
    });
    await waitScraped(p, 'bpfwasm');
    await waitScraped(p, 'bpfwasm-shadow');
    loadStart = Date.now() / 1000;

    // CPU contention for the run queue, for as long as the rest of the load runs.
    for (let i = 0; i < 2; i++) hogs.push(spawn('/bin/sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));

    // Processes: short-lived execs, and failing ones (cat of a missing file: exit 1, openat ENOENT
    // in the syscalls sensor's scope).
    runTimes(uniqueBinary('/bin/true', 'dtru').path, 50);
    for (let i = 0; i < 10; i++) expect(spawnSync(cat.path, ['/nonexistent-bpfwasm-dash']).status).toBe(1);

    // Disk writes that reach the block device.
    const fd = openSync(join(tmp, 'data'), 'w');
    try {
      for (let i = 0; i < 8; i++) {
        writeSync(fd, Buffer.alloc(1 << 20, i));
        fsyncSync(fd);
      }
    } finally {
      closeSync(fd);
    }

    // Loopback TCP connections.
    // 20 connections to one server, in two rounds (the second one below).
    const server = perl('dsrv', SERVER, ['127.0.0.1', 20, 10, 0]);
    const port = await lineOf(server, 0);
    const client = perl('dcli', CLIENT, ['127.0.0.1', port, 10, 10]);
    expect(await client.exited).toBe(0);

    // Retransmits: a peer across a veth pair that stops answering for a while.
    const rserver = perl('drsv', SERVER, [VethPair.B_ADDR, 1, 3000, 0], net.b);
    const rport = await lineOf(rserver, 0);
    const rclient = perl('drcl', STALLING_CLIENT, [VethPair.B_ADDR, rport], net.a);
    comms.retransmit = rclient.comm;
    await lineOf(rclient, 0);
    net.blackhole(true);
    rclient.child.stdin!.write('go\n');
    await lineOf(rclient, 1);

    // One OOM kill in a 32 MiB memory cgroup, while the retransmits happen.
    cg = createMemoryCgroup(`bpfwasm-it-dash-${process.pid}-${Date.now()}`, 32 << 20);
    const tail = uniqueBinary(execFileSync('sh', ['-c', 'command -v tail']).toString().trim(), 'doom');
    comms.oom = tail.comm;
    const victim = cg.spawn([tail.path, '/dev/zero'], { addressSpaceKiB: 256 << 10 });
    expect(await new Promise((r) => victim.on('close', (_code, sig) => r(sig)))).toBe('SIGKILL');

    await waitFor('two retransmits in Prometheus', async () => {
      const r = await p.query(`bpfwasm_tcp_retransmits_total{comm="${comms.retransmit}"}`);
      return Number(r[0]?.value[1] ?? 0) >= 2 ? true : undefined;
    }, 15_000, 250);
    net.blackhole(false);
    rclient.child.stdin!.end('end\n');
    expect(await rclient.exited).toBe(0);
    rserver.child.stdin!.end();
    for (const h of hogs) h.kill('SIGKILL');

    // Everything is in Prometheus: the kill, the failing syscalls, the non-zero exits.
    for (const expr of [
      `bpfwasm_oom_kills_total{comm="${comms.oom}"}`,
      'bpfwasm_syscall_errors_total{syscall="openat",errno="ENOENT"} >= 10',
      `bpfwasm_process_exit_total{comm="${comms.cat}",exit_code="1"} >= 10`,
      'bpfwasm_tcp_connections_closed_total{direction="passive"} >= 10',
    ]) await waitFor(`Prometheus: ${expr}`, async () => ((await p.query(expr)).length > 0 ? true : undefined), 15_000, 250);
    // A histogram's quantile needs an increase after its series first appeared, and a burst that
    // lands within one scrape creates the series at its final value (rate 0, quantile NaN):
    // a second round of syscalls and connections, now that Prometheus has the series.
    for (let i = 0; i < 10; i++) expect(spawnSync(cat.path, ['/nonexistent-bpfwasm-dash']).status).toBe(1);
    // The server's passive series (same comm and port) now grows; a new client's would not.
    expect(await perl('dcli', CLIENT, ['127.0.0.1', port, 10, 10]).exited).toBe(0);
    await lineOf(server, 1);
    server.child.stdin!.end();
    for (const expr of [
      'increase(bpfwasm_syscall_latency_seconds_count[5s]) > 0',
      'increase(bpfwasm_tcp_connection_duration_seconds_count[5s]) > 0',
    ]) await waitFor(`Prometheus: ${expr}`, async () => ((await p.query(expr)).length > 0 ? true : undefined), 15_000, 250);
    // The newest series (the kill) has scrapes enough for a rate over RATE_INTERVAL.
    await waitFor('three scrapes of the kill', async () => {
      const r = await p.query(`count_over_time(bpfwasm_oom_kills_total{comm="${comms.oom}"}[1m])`);
      return Number(r[0]?.value[1] ?? 0) >= 3 ? true : undefined;
    }, 15_000, 250);
  });

  afterAll(async () => {
    for (const h of hogs) h.kill('SIGKILL');
    await p?.stop();
    if (c) expect(await c.stop()).toBe(0);
    net?.destroy();
    await cg?.remove();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('every metric the dashboards reference is exported by the collector', async () => {
    const exported = new Set<string>();
    for (const path of ['/metrics', '/metrics/shadow']) {
      const res = await fetch(`${c.url}${path}`);
      for (const k of parseExposition(await res.text()).keys()) exported.add(k.replace(/\{.*$/, ''));
    }
    const missing = queries.flatMap((q) => metricNames(substitute(q.expr, vars()))
      .filter((n) => !exported.has(n)).map((n) => `${q.where}: ${n}`));
    expect(missing).toEqual([]);
  });

  it('every template variable lists the node and the collector', async () => {
    const want: Record<string, string> = { node: NODE, instance: target, exporter: 'process', __name__: 'bpfwasm_process_exec_total' };
    const failures: string[] = [];
    for (const q of queries.filter((x) => x.label)) {
      // What Grafana's label_values(selector, label) asks Prometheus.
      const values = await p.api<string[]>(`label/${q.label}/values`, {
        'match[]': substitute(q.expr, vars()), start: String(loadStart - 60), end: String(Date.now() / 1000),
      });
      if (!values.includes(want[q.label!]!)) failures.push(`${q.where}: ${JSON.stringify(values)} lacks ${want[q.label!]}`);
    }
    expect(failures).toEqual([]);
  });

  it('every panel query returns data', async () => {
    const now = Date.now() / 1000;
    const check = async (q: Query): Promise<string | undefined> => {
      const expr = substitute(q.expr, vars());
      try {
        const result = q.target!.instant
          ? (await p.api<{ result: Series[] }>('query', { query: expr, time: String(now) })).result
          : (await p.api<{ result: Series[] }>('query_range', { query: expr, start: String(loadStart - 2), end: String(now), step: '1' })).result;
        const finite = result.some((s) => (s.values ?? [s.value!]).some(([, v]) => Number.isFinite(Number(v))));
        return finite ? undefined : `${q.where}: no data (${result.length} series, none finite) for ${expr}`;
      } catch (err) {
        return `${q.where}: ${(err as Error).message} for ${expr}`;
      }
    };
    const panelQueries = queries.filter((q) => q.panel);
    expect(panelQueries.length).toBeGreaterThan(40);
    expect((await Promise.all(panelQueries.map(check))).filter(Boolean)).toEqual([]);
  });

  it('shows the load: the OOM kill in the table, the failing openat, the retransmitting client', async () => {
    const node = dashboards.find((d) => d.dash.uid === 'bpfwasm-node-overview')!.dash;
    const run = async (title: string): Promise<Series[]> => {
      const t = panelsOf(node).find((x) => x.title === title)!.targets![0]!;
      return (await p.api<{ result: Series[] }>('query', { query: substitute(t.expr, { ...vars(), __rate_interval: '1m' }) })).result;
    };
    const kills = await run('OOM kills since the collector started');
    expect(kills.find((s) => s.metric.comm === comms.oom)).toMatchObject({ metric: { comm: comms.oom, memcg: cg!.path }, value: [expect.any(Number), '1'] });
    const errors = await run('Syscall errors by errno');
    expect(errors.map((s) => s.metric)).toContainEqual({ syscall: 'openat', errno: 'ENOENT' });
    const retransmits = await run('Retransmits');
    expect(retransmits.some((s) => s.metric.comm === comms.retransmit)).toBe(true);
  });

  it('the flamegraph links open a profile of the node', async () => {
    const urls = new Set(dashboards.flatMap((d) => [
      ...d.dash.links.filter((l) => l.type === 'link').map((l) => l.url),
      ...panelsOf(d.dash).flatMap((x) => (x.links ?? []).map((l) => l.url)),
    ]).filter((u) => u.includes('/flamegraph')).map((u) => substitute(u, vars())));
    expect(urls.size).toBeGreaterThan(0);
    for (const u of urls) {
      const url = new URL(u);
      // The links profile the whole node for 10 s; one second of the collector itself shows the
      // link reaches the profiler, at a fraction of the symbolisation work.
      url.searchParams.set('seconds', '1');
      url.searchParams.set('pid', String(c.proc.pid));
      url.searchParams.set('format', 'folded');
      const res = await fetch(url);
      expect(res.status, String(url)).toBe(200);
      expect((await res.text()).length).toBeGreaterThan(0);
    }
  });
});
