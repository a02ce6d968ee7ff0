// Pipeline benchmark (issue: end-to-end pipeline): start-up, footprint, and a fork/exec storm,
// each printed as a ratio to a baseline measured in the same run.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  childPidByComm, cpuSeconds, freePort, median, parseExposition, rssBytes, run, sleep, smapsBreakdown, total, waitHttp,
} from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const STORM_SECONDS = Number(process.env.BENCH_STORM_SECONDS ?? 5);
const WORKERS = 2;

async function timeToReady(args, readyPath) {
  const port = await freePort();
  const t0 = process.hrtime.bigint();
  const proc = spawn(process.execPath, [...args, String(port)], { stdio: 'ignore' });
  await waitHttp(`http://127.0.0.1:${port}${readyPath}`);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { proc, port, ms };
}

async function stop(proc) {
  const done = new Promise((r) => proc.on('exit', r));
  proc.kill('SIGTERM');
  await done;
}

/**
 * The helper alone with the default config's command line (and `extra` options), its RSS by
 * mapping once it has been ready for a second: what its memory is made of.
 */
export async function helperFootprint(extra = []) {
  const { defaultConfig, helperArgs } = await import(pathToFileURL(join(ROOT, 'dist/src/config.js')).href);
  const { FrameDecoder } = await import(pathToFileURL(join(ROOT, 'dist/src/ingest/frame-decoder.js')).href);
  const args = [...helperArgs(defaultConfig()), ...extra];
  const proc = spawn(join(ROOT, 'ebpf/build/bpfwasm-helper'), args, { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise((ok, fail) => {
      const decoder = new FrameDecoder({ events: () => {}, stats: () => {}, control: (kind) => kind === 'ready' && ok() });
      proc.stdout.on('data', (d) => decoder.push(d));
      proc.once('exit', (code) => fail(new Error(`bpfwasm-helper ${args.join(' ')} exited ${code}`)));
    });
    await sleep(1000);
    const { groups, rollup } = smapsBreakdown(proc.pid);
    const rings = groups['BPF maps (ring buffers)'] ?? 0;
    const own = (groups.heap ?? 0) + (groups.anonymous ?? 0) + (groups['[stack]'] ?? 0);
    return { args: extra, rss: rollup.Rss, rings, own, anonymous: rollup.Anonymous, libraries: rollup.Rss - rings - own };
  } finally {
    const done = new Promise((r) => proc.once('exit', r));
    proc.stdin.end();
    await done;
  }
}

export async function benchPipeline(log = console.error) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-'));
  const storm = join(dir, 'storm');
  execFileSync('cc', ['-O2', '-pthread', '-o', storm, join(ROOT, 'bench/storm.c')]);
  const config = join(dir, 'config.yaml');
  writeFileSync(config, 'listen: { host: 127.0.0.1 }\nlog: { level: warn }\n');

  // Baselines: a bare Fastify "hello" on the same Node, and an idle Node.
  const hello = `const f=(await import(${JSON.stringify(join(ROOT, 'node_modules/fastify/fastify.js'))})).default();` +
    `f.get('/',async()=>'hello');await f.listen({port:Number(process.argv[1]),host:'127.0.0.1'});`;
  const base = { readyMs: [], rss: [] };
  for (let i = 0; i < RUNS; i++) {
    const r = await timeToReady(['--input-type=module', '-e', hello], '/');
    base.readyMs.push(r.ms);
    await sleep(1000);
    base.rss.push(rssBytes(r.proc.pid));
    await stop(r.proc);
  }
  log(`fastify hello: ready ${median(base.readyMs).toFixed(0)} ms, rss ${(median(base.rss) / 2 ** 20).toFixed(1)} MiB`);

  const col = { readyMs: [], rss: [], helperRss: [], loadMs: [], attachMs: [] };
  for (let i = 0; i < RUNS; i++) {
    const r = await timeToReady([join(ROOT, 'dist/src/cli.js'), 'run', '--config', config, '--port'], '/readyz');
    col.readyMs.push(r.ms);
    await sleep(2000);
    col.rss.push(rssBytes(r.proc.pid));
    col.helperRss.push(rssBytes(childPidByComm(r.proc.pid, 'bpfwasm-helper')));
    const m = parseExposition(await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text());
    col.loadMs.push(m.get('bpfwasm_helper_load_seconds') * 1000);
    col.attachMs.push(m.get('bpfwasm_helper_attach_seconds') * 1000);
    await stop(r.proc);
  }
  // What the helper's RSS is made of, with the default rings and with 4 MiB process and tcp rings.
  const footprint = { defaults: [], large: [] };
  for (let i = 0; i < RUNS; i++) {
    footprint.defaults.push(await helperFootprint());
    footprint.large.push(await helperFootprint(['--ring', 'process=4194304', '--ring', 'tcp=4194304']));
  }
  log(`collector: ready ${median(col.readyMs).toFixed(0)} ms, rss ${(median(col.rss) / 2 ** 20).toFixed(1)} MiB, helper rss ${(median(col.helperRss) / 2 ** 20).toFixed(1)} MiB`);

  // Storms without, then with, the collector; collector CPU is net of its idle CPU in the same run.
  const kinds = { exec: ['exec', '/bin/true'], threads: ['threads'] };
  const stormRun = async (kind) => Number(await run(storm, [String(STORM_SECONDS), String(WORKERS), ...kinds[kind]])) / STORM_SECONDS;
  const bare = {};
  for (const kind of Object.keys(kinds)) {
    bare[kind] = [];
    for (let i = 0; i < RUNS; i++) bare[kind].push(await stormRun(kind));
    log(`${kind} storm without collector: ${median(bare[kind]).toFixed(0)} tasks/s`);
  }

  // Control: a Node process that only wakes every 5 ms, the collector's cadence at full load.
  const control = spawn(process.execPath, ['-e', 'setInterval(() => {}, 5)'], { stdio: 'ignore' });
  const r = await timeToReady([join(ROOT, 'dist/src/cli.js'), 'run', '--config', config, '--port'], '/readyz');
  const helperPid = childPidByComm(r.proc.pid, 'bpfwasm-helper');
  const scrape = async () => parseExposition(await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text());
  await sleep(1000);
  const idle0 = cpuSeconds(r.proc.pid);
  await sleep(5000);
  const idleCpuPerSecond = (cpuSeconds(r.proc.pid) - idle0) / 5;
  log(`collector idle: ${(idleCpuPerSecond * 100).toFixed(2)}% of a CPU`);

  const loaded = {};
  for (const kind of Object.keys(kinds)) {
    const l = (loaded[kind] = {
      tasks: [], events: [], cpuNsPerEvent: [], cpuPerSecond: [], controlCpuPerSecond: [], helperCpuNsPerEvent: [], drops: 0, lost: 0,
    });
    for (let i = 0; i < RUNS; i++) {
      const m0 = await scrape();
      const t0 = process.hrtime.bigint();
      const c0 = cpuSeconds(r.proc.pid);
      const h0 = cpuSeconds(helperPid);
      const k0 = cpuSeconds(control.pid);
      const tasks = await stormRun(kind);
      await sleep(1500); // let the tail drain and a STATS frame arrive
      const m1 = await scrape();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const events = total(m1, 'bpfwasm_events_received_total') - total(m0, 'bpfwasm_events_received_total');
      l.tasks.push(tasks);
      l.events.push(events / STORM_SECONDS);
      const cpu = cpuSeconds(r.proc.pid) - c0;
      l.cpuNsPerEvent.push(((cpu - idleCpuPerSecond * seconds) * 1e9) / events);
      l.cpuPerSecond.push(cpu / seconds);
      l.controlCpuPerSecond.push((cpuSeconds(control.pid) - k0) / seconds);
      l.helperCpuNsPerEvent.push(((cpuSeconds(helperPid) - h0) * 1e9) / events);
      l.drops += total(m1, 'bpfwasm_sensor_ring_drops_total') - total(m0, 'bpfwasm_sensor_ring_drops_total');
      l.lost += total(m1, 'bpfwasm_helper_records_written_total') - total(m1, 'bpfwasm_events_received_total');
    }
    log(`${kind} storm with collector: ${median(l.tasks).toFixed(0)} tasks/s, ${median(l.events).toFixed(0)} events/s, ` +
      `collector ${median(l.cpuNsPerEvent).toFixed(0)} CPU-ns/event net of idle, drops ${l.drops}`);
  }
  await stop(r.proc);
  await stop(control);

  return { runs: RUNS, stormSeconds: STORM_SECONDS, workers: WORKERS, base, col, footprint, bare, idleCpuPerSecond, loaded };
}
