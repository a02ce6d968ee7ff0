// Pipeline benchmark (issue: end-to-end pipeline): fork/exec and thread storms, each printed as a
// ratio to a baseline measured in the same run, the exec storm against the goals of issue #17.
// Start-up and footprint are bench/startup.mjs.
//
// Alone: `node bench/pipeline.mjs` (root; `npm run build` first). BENCH_RUNS (5), BENCH_STORM_SECONDS (5),
// BENCH_STORM_KINDS (exec,threads: `exec` alone for the exec storm's figures; the report needs both),
// BENCH_WARMUP_SECONDS (10).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { childPidByComm, cpuSeconds, idleCpuRates, median, parseExposition, run, sleep, threadWakeups, total, wakeupsPerThread } from './lib.mjs';
import { COLLECTOR, benchConfig, collectorArgs, stop, timeToReady } from './startup.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const STORM_SECONDS = Number(process.env.BENCH_STORM_SECONDS ?? 5);
/** After ready, before the idle CPU is read; then one-second samples of it. */
const IDLE_SETTLE_SECONDS = 3;
const IDLE_SAMPLES = 7;
/**
 * Storm between the first one after start and the measured runs: start-up's compiles are behind by then.
 * Not all of it is optimized: the per-flush code runs a few times a second, so V8 takes minutes to tier it
 * up (perf, 2026-12-05: still baseline code after 2 min of storm), and the figure keeps falling slowly.
 */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
const WORKERS = 2;

/** The goals of issue #17 for the exec storm. */
export const GOALS = {
  execCpuNsPerEvent: 3000,
  execShareOfControl: 3, // × the bare Node timer's CPU share in the same storm
};

export async function benchPipeline(log = console.error) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-'));
  const storm = join(dir, 'storm');
  execFileSync('cc', ['-O2', '-pthread', '-o', storm, join(ROOT, 'bench/storm.c')]);
  const config = benchConfig(dir);

  // Storms without, then with, the collector; collector CPU is net of its idle CPU in the same run.
  const allKinds = { exec: ['exec', '/bin/true'], threads: ['threads'] };
  const kinds = Object.fromEntries((process.env.BENCH_STORM_KINDS ?? 'exec,threads').split(',').map((k) => [k, allKinds[k]]));
  const stormRun = async (kind) => Number(await run(storm, [String(STORM_SECONDS), String(WORKERS), ...kinds[kind]])) / STORM_SECONDS;
  const bare = {};
  for (const kind of Object.keys(kinds)) {
    bare[kind] = [];
    for (let i = 0; i < RUNS; i++) bare[kind].push(await stormRun(kind));
    log(`${kind} storm without collector: ${median(bare[kind]).toFixed(0)} tasks/s`);
  }

  // Control: a Node process that only wakes every 5 ms, in the same storms on their own (run beside
  // the collector, each made the other's wake-ups dearer on 2 CPUs: the collector's figure rose ~30%).
  const controlCpuPerSecond = {};
  for (const kind of Object.keys(kinds)) {
    const control = spawn(process.execPath, ['-e', 'setInterval(() => {}, 5)'], { stdio: 'ignore' });
    await sleep(500);
    controlCpuPerSecond[kind] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = process.hrtime.bigint();
      const k0 = cpuSeconds(control.pid);
      await stormRun(kind);
      controlCpuPerSecond[kind].push((cpuSeconds(control.pid) - k0) / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    await stop(control);
    log(`${kind} storm, control (a Node process waking every 5 ms): ${(median(controlCpuPerSecond[kind]) * 100).toFixed(2)}% of a CPU`);
  }

  const r = await timeToReady(collectorArgs(config), '/readyz', COLLECTOR);
  const helperPid = childPidByComm(r.proc.pid, 'bpfwasm-helper');
  const scrape = async () => parseExposition(await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text());
  // Records the helper wrote that never arrived, as of its last STATS frame (the status API's
  // count): a scrape's written total dates from the last STATS, its received total is live.
  const lostInPipe = async () => JSON.parse(await run(process.execPath, [
    join(ROOT, 'dist/src/cli.js'), 'status', '--api', `unix:${join(dir, 'api.sock')}`, '--output', 'json',
  ])).events_lost_in_pipe;
  let lostBefore = await lostInPipe();
  // Idle once start-up's own work is over (the code cache written a second after ready, the
  // first optimizing compiles), as a median of one-second samples (lib.mjs idleCpuRates): the
  // idle share is most of an exec storm's CPU, and 0.05% of a CPU misread is ~0.3 µs per event.
  await sleep(IDLE_SETTLE_SECONDS * 1000);
  const [idleCpuPerSecond] = await idleCpuRates([r.proc.pid], IDLE_SAMPLES);
  log(`collector idle: ${(idleCpuPerSecond * 100).toFixed(2)}% of a CPU`);

  // One storm of `kind` with the collector running: its figures, CPU net of idle.
  const measure = async (kind, seconds) => {
    const m0 = await scrape();
    await sleep(300); // the scrape's own work (its answer, what it leaves to collect) ends before the window
    const t0 = process.hrtime.bigint();
    const c0 = cpuSeconds(r.proc.pid);
    const h0 = cpuSeconds(helperPid);
    const w0 = threadWakeups(r.proc.pid);
    const hw0 = threadWakeups(helperPid);
    const tasks = Number(await run(storm, [String(seconds), String(WORKERS), ...kinds[kind]])) / seconds;
    await sleep(1500); // let the tail drain and a STATS frame written after the storm arrive (helper.statsMs: 1 s)
    // CPU and wake-ups are read before the scrape that counts the events: serving /metrics (~6 ms
    // of CPU) is not the storm's, and the idle figure subtracted below has no scrape in it either.
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuSeconds(r.proc.pid) - c0;
    const helperCpu = cpuSeconds(helperPid) - h0;
    const w1 = threadWakeups(r.proc.pid);
    const hw1 = threadWakeups(helperPid);
    const m1 = await scrape();
    const events = total(m1, 'bpfwasm_events_received_total') - total(m0, 'bpfwasm_events_received_total');
    return {
      tasks,
      events: events / seconds,
      // Every frame, STATS included: what the collector is woken for.
      eventsPerFrame: events / (total(m1, 'bpfwasm_frames_total') - total(m0, 'bpfwasm_frames_total')),
      cpuNsPerEvent: ((cpu - idleCpuPerSecond * elapsed) * 1e9) / events,
      cpuPerSecond: cpu / elapsed,
      helperCpuNsPerEvent: (helperCpu * 1e9) / events,
      // Wake-ups per second of each collector thread (by name) and of the helper: what the CPU per event is made of.
      wakeups: [...wakeupsPerThread(w0, w1, elapsed),
        ...wakeupsPerThread(hw0, hw1, elapsed).map((t) => ({ ...t, name: 'helper' }))],
      drops: total(m1, 'bpfwasm_sensor_ring_drops_total') - total(m0, 'bpfwasm_sensor_ring_drops_total'),
    };
  };

  const loaded = {};
  for (const kind of Object.keys(kinds)) {
    const l = (loaded[kind] = {
      tasks: [], events: [], eventsPerFrame: [], cpuNsPerEvent: [], cpuPerSecond: [], controlCpuPerSecond: controlCpuPerSecond[kind], helperCpuNsPerEvent: [], drops: 0, lost: 0,
      wakeups: [],
    });
    // The first storm of a fresh collector also pays V8's one-time work on the paths it wakes
    // (optimizing compiles on its platform threads, a first full GC): reported on its own, then
    // WARMUP_SECONDS more of the storm before the runs that give the steady figures.
    const first = await measure(kind, STORM_SECONDS);
    l.first = first.cpuNsPerEvent;
    l.drops += first.drops;
    await measure(kind, WARMUP_SECONDS);
    for (let i = 0; i < RUNS; i++) {
      const m = await measure(kind, STORM_SECONDS);
      for (const key of ['tasks', 'events', 'eventsPerFrame', 'cpuNsPerEvent', 'cpuPerSecond', 'helperCpuNsPerEvent', 'wakeups']) l[key].push(m[key]);
      l.drops += m.drops;
    }
    const lost = await lostInPipe(); // outside the CPU windows: the query costs the collector CPU
    l.lost = lost - lostBefore;
    lostBefore = lost;
    log(`${kind} storm with collector: ${median(l.tasks).toFixed(0)} tasks/s, ${median(l.events).toFixed(0)} events/s, ` +
      `${median(l.eventsPerFrame).toFixed(1)} events/frame, collector ${median(l.cpuNsPerEvent).toFixed(0)} CPU-ns/event net of idle ` +
      `(first storm ${l.first.toFixed(0)}), drops ${l.drops}`);
    log(`${kind} storm wake-ups/s per thread (CPU share), each run: ${l.wakeups.map((w) => w.filter((t) => t.wakeupsPerSecond >= 0.5)
      .map((t) => `${t.name} ${t.wakeupsPerSecond.toFixed(0)} (${(t.cpuShare * 100).toFixed(1)}%)`).join(', ')).join(' | ')}`);
  }
  await stop(r.proc);

  return { runs: RUNS, stormSeconds: STORM_SECONDS, warmupSeconds: WARMUP_SECONDS, idleSettleSeconds: IDLE_SETTLE_SECONDS, idleSamples: IDLE_SAMPLES, workers: WORKERS, bare, idleCpuPerSecond, loaded };
}

const x = (a, b) => `${(a / b).toFixed(2)}×`;
const ns = (v) => `${v.toFixed(0)} ns`;
const pct = (v) => `${(v * 100).toFixed(1)}%`;
const goal = (met, text) => (met ? `goal ${text} met` : `**goal ${text} not met**`);
/** Median wake-ups/s over the runs of one kind: the main thread, the other collector threads together, the helper. */
const wakeups = (l) => {
  const of = (pick) => median(l.wakeups.map((w) => w.filter(pick).reduce((a, t) => a + t.wakeupsPerSecond, 0))).toFixed(0);
  return `main ${of((t) => t.name === 'main')}, other threads ${of((t) => t.name !== 'main' && t.name !== 'helper')}; helper ${of((t) => t.name === 'helper')}`;
};

export function pipelineMarkdown(p) {
  const { bare, loaded } = p;
  const execNs = median(loaded.exec.cpuNsPerEvent);
  const execShare = median(loaded.exec.cpuPerSecond) / median(loaded.exec.controlCpuPerSecond);
  return `## Pipeline: process storms

Command: \`npm run bench\`. \`bench/storm.c\` runs ${p.workers} workers for ${p.stormSeconds} s each:
\`exec\` vfork+execs \`/bin/true\` (3 events per process: fork, exec, exit), \`threads\` creates and
joins threads (1 fork event each). Events go helper → pipe → decoder → the WASM exporters → series
store. Collector CPU per event is net of its idle CPU (${(p.idleCpuPerSecond * 100).toFixed(2)}% of a CPU: the median of ${p.idleSamples} one-second
samples from ${p.idleSettleSeconds} s after ready, once start-up's own work is over), read over the storm and 1.5 s of its tail, outside the two scrapes of /metrics that count its
events (~6 ms of CPU each; the idle figure has none either); CPU-s per million events is the same figure scaled. Each kind runs once on the freshly
started collector (its own row), then ${p.warmupSeconds} s more unmeasured, then ${p.runs} measured runs (medians):
a collector meets a storm after hours of running, when V8 has long optimized what every frame runs. The
first storm after start also pays that one-time work: optimizing compiles of the hot paths (the store's
update loop alone takes 15-30 ms of a platform thread per compile) and usually the first full GC. The
control (a bare Node timer) runs in storms of its own before the collector starts: run beside the
collector, as it was before, each made the other's wake-ups dearer on 2 CPUs (the collector's warm
figure read ~5.5 µs that way, ~3-4.5 µs alone).

| figure | exec storm | thread storm |
|---|---|---|
| tasks/s without the collector (baseline) | ${median(bare.exec).toFixed(0)} | ${median(bare.threads).toFixed(0)} |
| tasks/s with the collector running | ${median(loaded.exec.tasks).toFixed(0)} (${x(median(loaded.exec.tasks), median(bare.exec))}) | ${median(loaded.threads.tasks).toFixed(0)} (${x(median(loaded.threads.tasks), median(bare.threads))}) |
| events/s through the pipeline | ${median(loaded.exec.events).toFixed(0)} | ${median(loaded.threads.events).toFixed(0)} |
| events per frame from the helper (STATS frames included) | ${median(loaded.exec.eventsPerFrame).toFixed(1)} | ${median(loaded.threads.eventsPerFrame).toFixed(1)} |
| collector CPU per event | ${ns(execNs)} (${goal(execNs <= GOALS.execCpuNsPerEvent, `≤ ${GOALS.execCpuNsPerEvent / 1000} µs`)}) | ${ns(median(loaded.threads.cpuNsPerEvent))} |
| collector CPU per event, the first storm after start (before the warm-up) | ${ns(loaded.exec.first)} | ${ns(loaded.threads.first)} |
| collector CPU-s per million events | ${(median(loaded.exec.cpuNsPerEvent) / 1e3).toFixed(2)} | ${(median(loaded.threads.cpuNsPerEvent) / 1e3).toFixed(2)} |
| collector CPU, share of one CPU during the storm | ${pct(median(loaded.exec.cpuPerSecond))} | ${pct(median(loaded.threads.cpuPerSecond))} |
| control: a Node process waking every 5 ms, same storm, without the collector | ${pct(median(loaded.exec.controlCpuPerSecond))} (collector ${x(median(loaded.exec.cpuPerSecond), median(loaded.exec.controlCpuPerSecond))}: ${goal(execShare <= GOALS.execShareOfControl, `≤ ${GOALS.execShareOfControl}×`)}) | ${pct(median(loaded.threads.controlCpuPerSecond))} |
| helper CPU per event | ${ns(median(loaded.exec.helperCpuNsPerEvent))} | ${ns(median(loaded.threads.helperCpuNsPerEvent))} |
| wake-ups/s during the storm: collector threads; helper | ${wakeups(loaded.exec)} | ${wakeups(loaded.threads)} |
| events dropped in the kernel (all runs) | ${loaded.exec.drops} | ${loaded.threads.drops} |
| records the helper wrote that never arrived (all runs, as of its last STATS) | ${loaded.exec.lost} | ${loaded.threads.lost} |

On 2 CPUs the workload, the helper and the collector share the cores, so a storm measures what
real process churn produces, not the pipeline's ceiling. CPU is read from \`/proc/PID/task/*/schedstat\`
(exact on-CPU time); tick-sampled utime/stime over-charge a process that wakes in step with a
timer, as the collector does.

The exec storm's cost per event is dominated by wake-ups, not by events. A storm is a stream: every poll
finds records, so the helper's wait grows from 4 × \`pollMs\` (20 ms) towards \`busyPollMs\` (400 ms) while the
stream brings 1000 records a second or more, instead of \`pollMs\` (5 ms), unless \`wakeupBytes\` fill first (ebpf/PROTOCOL.md, "When the helper flushes"); at a few thousand events per
second a flush carries a few hundred records and costs the collector about a millisecond of CPU
whatever it carries (at a 100 ms \`busyPollMs\` the warm figure was ~5 µs per event), and each flush wakes the collector's main thread once
(the helper writes all its frames, one per record type, in one write; the exporter thread's results come
back through shared memory, not a message) and its exporter thread once (notified once per read, not per
frame); a fork/exec storm makes every wake-up dearer (cold caches and TLBs on both CPUs). The control row shows the effect on a process that does nothing but wake every 5 ms; the goal
keeps the collector within ${GOALS.execShareOfControl}× of it. The collector's own timers no longer add to that (the exporter
watchdog and the event-loop delay sampler each ticked every 10 ms; the results fallback fired 20 ms after
most frames; the reads of a stream then checked every deadline and re-armed the watchdog, a quarter of a read's
time: now the watchdog looks only while a slot has work out, on the collector's 1 s clock, and a read only compares one number;
the event-loop delay is sampled by that clock too, not by a 1 s libuv timer of its own),
nor do the helper's own timers: STATS and the aggregates' drain go with a stream's flushes instead of flushing
once a second each on their own (main thread 10 → 7–8 wake-ups a second, in the A/B runs of 2026-12-04; ~5 since the 400 ms \`busyPollMs\` and the sampler's timer went, 2026-12-05). The thread storm, at tens of
thousands of events per second, shows the per-event cost; the figure at 100k events/s against the
goal of ≤ 150 ns per event is in the throughput section below.
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const p = await benchPipeline();
  // One kind alone (BENCH_STORM_KINDS): its figures as JSON, the report's table needs both.
  console.log(p.loaded.exec && p.loaded.threads ? pipelineMarkdown(p) : JSON.stringify(p, null, 1));
}
