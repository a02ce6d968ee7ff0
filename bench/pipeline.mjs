// Pipeline benchmark (issue: end-to-end pipeline): fork/exec and thread storms, each printed as a
// ratio to a baseline measured in the same run. Start-up and footprint are bench/startup.mjs.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { childPidByComm, cpuSeconds, median, parseExposition, run, sleep, total } from './lib.mjs';
import { benchConfig, collectorArgs, stop, timeToReady } from './startup.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const STORM_SECONDS = Number(process.env.BENCH_STORM_SECONDS ?? 5);
const WORKERS = 2;

export async function benchPipeline(log = console.error) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-'));
  const storm = join(dir, 'storm');
  execFileSync('cc', ['-O2', '-pthread', '-o', storm, join(ROOT, 'bench/storm.c')]);
  const config = benchConfig(dir);

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
  const r = await timeToReady(collectorArgs(config), '/readyz');
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

  return { runs: RUNS, stormSeconds: STORM_SECONDS, workers: WORKERS, bare, idleCpuPerSecond, loaded };
}
