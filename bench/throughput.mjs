// Pipeline throughput (issue #9): how many events a second reach the collector with zero loss,
// driven by the benchmark sensor (ebpf/bench/: one bench_syscall record per syscall of one
// process) and bench/syscall-driver.c (getppid flat out, or paced, pinned to CPU 0).
//
// Per run, in this order, each probed configuration between two no-probe baselines:
//   baseline   the driver flat out with no probe (ns per getppid);
//   C only     `bpfwasm-helper --sensors bench --sink null`: the same helper binary reads the
//              ring buffer and discards the records, still reporting drops in its STATS;
//   bpftrace   `tracepoint:raw_syscalls:sys_enter /pid == N/ { @[args->id] = count(); }`, the
//              same filter with in-kernel aggregation (ns per getppid only);
//   collector  the full pipeline: helper → pipe → decoder → the bench exporter in its worker →
//              series store, with only the bench sensor enabled.
// For C only and the collector: a flat-out step (rate and loss %), then paced steps converging
// on the highest rate with zero loss (kernel ring drops 0, exporter drops 0, records counted ==
// records the BPF program submitted), then a step at a fixed rate for CPU-ns per event, and
// another after FIXED_WARM_SECONDS more at that rate (the goal's figure).
// Memory: RSS of the helper and the collector idle and at most during the steps.
//
// Alone: `node bench/throughput.mjs` (root; `npm run build` first; bpftrace from setup.sh).
// BENCH_RUNS (default 3), BENCH_STEP_SECONDS (paced step, default 1), BENCH_FIXED_RATE, BENCH_FIXED_WARM_SECONDS,
// BENCH_BUSY_POLL_MS (the collector's helper.busyPollMs; default: the config's).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import {
  childPidByComm, cpuSeconds, freePort, idleCpuRates, median, parseExposition, rssBytes, sleep, smapsBreakdown, totalWhere, voluntarySwitches, waitHttp,
} from './lib.mjs';
import { stop, tracefsMounted, withBpftrace } from './sensors.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FLAT_SECONDS = 1;
const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 1);
const LADDER_STEPS = 5;
const FIXED_RATE = Number(process.env.BENCH_FIXED_RATE ?? 100_000);
const FIXED_SECONDS = 6;
/**
 * The fixed rate unmeasured between the first measured step and the warm one: a collector meets a
 * stream after hours of running, when V8 has long optimized the per-frame code (it runs a few
 * times a second, so it tiers up over seconds) and the memory reducer's GCs of the first seconds
 * after start are over; the first step, those included, is reported beside it.
 */
const FIXED_WARM_SECONDS = Number(process.env.BENCH_FIXED_WARM_SECONDS ?? 10);
/** After the fixed-rate load: the helper's last flush (at most busyPollMs, 400 ms) and its processing. */
const FIXED_TAIL_MS = 600;
/** One-second samples of the idle CPU before the fixed-rate step; their median is subtracted from the step's. */
const IDLE_SAMPLES = 5;
const PROFILE_SECONDS = 4;
const PROFILE_SVG = 'bench/results/collector-at-fixed-rate.svg';
/** The same profile before issue #17's changes, kept for comparison. */
const PROFILE_BEFORE_SVG = 'bench/results/collector-at-fixed-rate-before.svg';
const STATS_MS = 100;
const QUIET_TIMEOUT_MS = 4000;
export const DRIVER_CPU = 0;
// The consumers run on the other CPU: woken by the producer's irq_work, the helper would
// otherwise often be placed on the driver's CPU (wake-affine), where a nice −20 loop starves it.
export const PIPELINE_CPU = 1;
const HELPER = join(ROOT, 'ebpf/build/bpfwasm-helper');
const BPFTRACE = '/usr/bin/bpftrace';
const TRACEFS = '/sys/kernel/tracing';
const GETPPID_NR = 110; // x86-64
const dist = (p) => import(pathToFileURL(join(ROOT, 'dist/src', p)).href);

const STAT = { RING_DROPS: 1, RING_SUBMITTED: 2, RECORDS_WRITTEN: 3 };

/** Compiles bench/syscall-driver.c into `dir`; returns the binary's path. */
export function buildDriver(dir) {
  const bin = join(dir, 'syscall-driver');
  execFileSync('cc', ['-O2', '-o', bin, join(ROOT, 'bench/syscall-driver.c')]);
  return bin;
}

/** The driver: one long-lived process, so its pid (the sensor's target) never changes. */
export async function startDriver(bin) {
  const proc = spawn(bin, [String(DRIVER_CPU)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.ok(l));
  proc.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.fail(new Error(`syscall-driver exited ${code}`));
  });
  const next = () => new Promise((ok, fail) => waiting.push({ ok, fail }));
  const [, pid] = (await next()).split(' ');
  return {
    proc,
    pid: Number(pid),
    /** getppid `rate` times a second (0: flat out) for `seconds`. */
    async step(rate, seconds) {
      const reply = next();
      proc.stdin.write(`${Math.round(rate)} ${seconds}\n`);
      const [calls, elapsedNs, nsPerOp] = (await reply).split(' ').map(Number);
      return { calls, seconds: elapsedNs / 1e9, nsPerOp };
    },
  };
}

/** Waits until `read` gives the same counts twice in a row, `ms` apart, and `settled` holds. */
async function quiet(read, settled, ms) {
  const deadline = Date.now() + QUIET_TIMEOUT_MS;
  let prev = await read();
  for (;;) {
    await sleep(ms);
    const cur = await read();
    const same = cur.submitted === prev.submitted && cur.delivered === prev.delivered;
    if ((same && settled(cur)) || Date.now() > deadline) return cur;
    prev = cur;
  }
}

/** `bpfwasm-helper --sensors bench --sink null`, counts from its STATS frames. */
async function startHelperNull(target) {
  const { FrameDecoder, parseStats } = await dist('ingest/frame-decoder.js');
  const args = ['--sensors', 'bench', '--set', `bench.tgid=${target}`, '--sink', 'null', '--stats-ms', String(STATS_MS)];
  const proc = spawn('taskset', ['-c', String(PIPELINE_CPU), HELPER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const h = { proc, args, counts: null, frames: 0 };
  await new Promise((ok, fail) => {
    const decoder = new FrameDecoder({
      events: () => fail(new Error('--sink null sent EVENTS')),
      stats: (payload, count) => {
        const c = { drops: 0, submitted: 0, delivered: 0 };
        for (const s of parseStats(payload, count)) {
          if (s.kind === STAT.RING_DROPS) c.drops += s.value;
          if (s.kind === STAT.RING_SUBMITTED) c.submitted += s.value;
          if (s.kind === STAT.RECORDS_WRITTEN) c.delivered += s.value;
        }
        h.counts = c;
        h.frames++;
      },
      control: (kind) => kind === 'ready' && ok(),
    });
    proc.stdout.on('data', (d) => decoder.push(d));
    proc.once('exit', (code) => fail(new Error(`bpfwasm-helper ${args.join(' ')} exited ${code}: ${stderr.trim()}`)));
  });
  // A STATS frame follows a drain, so a new one is a fresh reading.
  const frame = async () => {
    const seen = h.frames;
    const deadline = Date.now() + QUIET_TIMEOUT_MS;
    while (h.frames === seen) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`bpfwasm-helper sent no STATS: ${stderr.trim()}`);
      await sleep(10);
    }
    return { ...h.counts, exporterDropped: 0 };
  };
  h.snapshot = () => quiet(frame, (c) => c.delivered === c.submitted, 0);
  h.pid = proc.pid;
  h.helperPid = proc.pid;
  h.stop = () => stop(proc, 'SIGTERM');
  return h;
}

/** The collector with only the bench sensor, counts from /metrics. */
async function startCollector(dir, target, nodeFlags = []) {
  const config = join(dir, 'throughput.yaml');
  const off = { enabled: false };
  writeFileSync(config, JSON.stringify({
    listen: { host: '127.0.0.1' }, log: { level: 'warn' }, helper: { statsMs: STATS_MS, ...(process.env.BENCH_BUSY_POLL_MS && { busyPollMs: Number(process.env.BENCH_BUSY_POLL_MS) }) },
    sensors: { process: off, tcp: off, blockio: off, runqlat: off, oom: off, bench: { enabled: true, tgid: target } },
  }));
  const port = await freePort();
  const proc = spawn('taskset', ['-c', String(PIPELINE_CPU), process.execPath, ...nodeFlags, join(ROOT, 'dist/src/cli.js'), 'run', '--config', config, '--port', String(port)], { stdio: 'ignore' });
  await waitHttp(`http://127.0.0.1:${port}/readyz`);
  const read = async () => {
    const m = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    return {
      drops: totalWhere(m, 'bpfwasm_sensor_ring_drops_total', 'sensor="bench"'),
      submitted: totalWhere(m, 'bpfwasm_sensor_events_submitted_total', 'sensor="bench"'),
      delivered: m.get('bpfwasm_bench_events_total') ?? 0,
      exporterDropped: totalWhere(m, 'bpfwasm_exporter_dropped_events_total', 'exporter="bench"'),
    };
  };
  return {
    proc,
    pid: proc.pid,
    url: `http://127.0.0.1:${port}`,
    helperPid: childPidByComm(proc.pid, 'bpfwasm-helper'),
    snapshot: () => quiet(read, (c) => c.delivered + c.exporterDropped === c.submitted, STATS_MS + 20),
    stop: () => stop(proc, 'SIGTERM'),
  };
}

/**
 * Flat out, then paced steps bisecting between the highest lossless and the lowest lossy rate
 * (starting just under what flat out delivered), then the fixed-rate step for CPU per event.
 */
async function ladder(driver, target, log, label) {
  const peak = { target: 0, helper: 0 };
  const sampler = setInterval(() => {
    try {
      peak.target = Math.max(peak.target, rssBytes(target.pid));
      peak.helper = Math.max(peak.helper, rssBytes(target.helperPid));
    } catch { /* exiting */ }
  }, 100);
  let prev = await target.snapshot();
  const step = async (rate, seconds, onLoadEnd) => {
    const r = await driver.step(rate, seconds);
    await onLoadEnd?.();
    const cur = await target.snapshot();
    const submitted = cur.submitted - prev.submitted;
    const drops = cur.drops - prev.drops;
    const delivered = cur.delivered - prev.delivered;
    const exporterDropped = cur.exporterDropped - prev.exporterDropped;
    prev = cur;
    const produced = submitted + drops;
    const s = {
      rate, calls: r.calls, nsPerOp: r.nsPerOp, seconds: r.seconds, produced, delivered, drops, exporterDropped,
      producedRate: produced / r.seconds, deliveredRate: delivered / r.seconds,
      lossPct: produced ? ((produced - delivered) / produced) * 100 : 0,
      lossless: drops === 0 && exporterDropped === 0 && delivered === submitted && produced >= r.calls,
    };
    log(`throughput ${label}: ${rate ? `paced ${Math.round(rate)}/s` : 'flat out'}: produced ${Math.round(s.producedRate)}/s, ` +
      `delivered ${Math.round(s.deliveredRate)}/s, loss ${s.lossPct.toFixed(2)}% (ring drops ${drops}, exporter drops ${exporterDropped})`);
    return s;
  };
  try {
    const flat = await step(0, FLAT_SECONDS);
    const steps = [];
    let best = flat.lossless ? flat : null;
    if (!flat.lossless) {
      let lo = 0, hi = flat.producedRate;
      let rate = Math.min(0.95 * flat.deliveredRate, 0.9 * hi);
      for (let i = 0; i < LADDER_STEPS; i++) {
        const s = await step(rate, STEP_SECONDS);
        steps.push(s);
        if (s.lossless) {
          lo = rate;
          if (!best || s.deliveredRate > best.deliveredRate) best = s;
        } else {
          hi = rate;
        }
        rate = (lo + hi) / 2;
      }
    }
    // CPU per event at a fixed rate, net of the idle CPU. CPU and wake-ups are read once the load's tail has gone through (the helper's last flush comes
    // within busyPollMs), before the scrape that counts its events: serving /metrics (~6 ms of
    // CPU, 10 ns per event of a 6 s step) is not the events' cost, and the idle figure
    // subtracted has no scrape in it either.
    // Idle CPU just before it, after the steps' tails, as a median of one-second samples (lib.mjs
    // idleCpuRates): the just-started target's idle held its code cache write and first
    // compiles, and at 100k/s 1 ms/s of idle misread is 10 ns per event.
    const fixedStep = async (when) => {
      await sleep(FIXED_TAIL_MS);
      const [idleCpu, idleHelperCpu] = await idleCpuRates([target.pid, target.helperPid], IDLE_SAMPLES);
      const c0 = cpuSeconds(target.pid), h0 = cpuSeconds(target.helperPid), w0 = voluntarySwitches(target.pid), t0 = process.hrtime.bigint();
      let c1, h1, w1, wall;
      const s = await step(FIXED_RATE, FIXED_SECONDS, async () => {
        await sleep(FIXED_TAIL_MS);
        wall = Number(process.hrtime.bigint() - t0) / 1e9;
        c1 = cpuSeconds(target.pid);
        h1 = cpuSeconds(target.helperPid);
        w1 = voluntarySwitches(target.pid);
      });
      s.wakeupsPerSecond = (w1.all - w0.all) / wall;
      s.mainWakeupsPerSecond = (w1.main - w0.main) / wall;
      log(`throughput ${label}: at ${FIXED_RATE}/s, ${when}: ${Math.round(s.wakeupsPerSecond)} wake-ups/s of its threads (main thread ${Math.round(s.mainWakeupsPerSecond)}), ` +
        `${s.delivered ? Math.round((c1 - c0) * 1e9 / s.delivered) : 0} ns CPU per event gross, idle ${(idleCpu * 100).toFixed(2)}% of a CPU before it`);
      s.cpuNs = (c1 - c0 - idleCpu * wall) * 1e9 / s.delivered;
      s.helperCpuNs = (h1 - h0 - idleHelperCpu * wall) * 1e9 / s.delivered;
      s.idleCpu = idleCpu;
      return s;
    };
    const firstFixed = await fixedStep('first');
    await step(FIXED_RATE, FIXED_WARM_SECONDS);
    const fixed = await fixedStep(`after ${FIXED_WARM_SECONDS} s more`);
    return { flat, steps, best, firstFixed, fixed, peakRss: peak.target, peakHelperRss: peak.helper };
  } finally {
    clearInterval(sampler);
  }
}

/** Idle RSS of a just-started target, a second after it started. */
async function idle(target) {
  await sleep(1300);
  return { rss: rssBytes(target.pid), helperRss: rssBytes(target.helperPid), helperSmaps: smapsBreakdown(target.helperPid) };
}

async function bpftraceFlat(driver) {
  const script = `tracepoint:raw_syscalls:sys_enter /pid == ${driver.pid}/ { @[args->id] = count(); }`;
  const { result: r, out } = await withBpftrace(script, () => driver.step(0, FLAT_SECONDS));
  const m = new RegExp(`^@\\[${GETPPID_NR}\\]: (\\d+)$`, 'm').exec(out);
  if (!m || Number(m[1]) < r.calls) throw new Error(`bpftrace counted ${m?.[1] ?? 'no'} getppid calls of ${r.calls}: ${out.trim()}`);
  return { ...r, script };
}

/**
 * Where the collector's CPU goes at the fixed rate: the collector profiles itself through its own
 * /flamegraph (Node with --perf-basic-prof-only-functions, so JIT-compiled JS frames have names).
 * Returns the frames with the most self time, and writes the SVG flamegraph to bench/results/.
 */
async function selfProfile(dir, driver) {
  const c = await startCollector(dir, driver.pid, ['--perf-basic-prof-only-functions']);
  try {
    const load = driver.step(FIXED_RATE, PROFILE_SECONDS + 2);
    await sleep(1000);
    const res = await fetch(`${c.url}/flamegraph?pid=${c.pid}&seconds=${PROFILE_SECONDS}&hz=499&format=folded`);
    if (!res.ok) throw new Error(`self-profile: /flamegraph answered ${res.status}: ${await res.text()}`);
    const folded = await res.text();
    const svg = await fetch(`${c.url}/flamegraph/${res.headers.get('x-profile-id')}?format=svg`);
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(join(ROOT, PROFILE_SVG), Buffer.from(await svg.arrayBuffer()));
    await load;
    const self = new Map();
    let total = 0;
    for (const line of folded.split('\n')) {
      const at = line.lastIndexOf(' ');
      if (at < 0) continue;
      const n = Number(line.slice(at + 1));
      const leaf = line.slice(0, at).split(';').at(-1);
      total += n;
      self.set(leaf, (self.get(leaf) ?? 0) + n);
    }
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([frame, n]) => ({ frame: demangle(frame), share: n / total }));
    return { samples: total, top, svg: PROFILE_SVG };
  } finally {
    await c.stop();
  }
}

/** C++ symbol names as people read them (binutils' c++filt, installed with the toolchain); as they are without it. */
function demangle(frame) {
  try {
    return execFileSync('c++filt', [frame], { encoding: 'utf8' }).trim();
  } catch {
    return frame;
  }
}

export async function benchThroughput(log = console.error) {
  if (!existsSync(BPFTRACE)) throw new Error(`${BPFTRACE} is missing: run scripts/setup.sh`);
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-throughput-'));
  const bin = buildDriver(dir);
  const mounted = !tracefsMounted();
  if (mounted) execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS]);
  const driver = await startDriver(bin);
  const res = { base: [], steps: [], bpftrace: [], helper: [], collector: [], helperIdle: [], collectorIdle: [] };
  try {
    let before = (await driver.step(0, FLAT_SECONDS)).nsPerOp;
    res.base.push(before);
    // Each probed flat-out ns/op is taken against the mean of the baselines around it.
    const paired = async (nsPerOp) => {
      const after = (await driver.step(0, FLAT_SECONDS)).nsPerOp;
      res.base.push(after);
      res.steps.push(Math.abs(after - before));
      const mean = (before + after) / 2;
      before = after;
      return { nsPerOp, added: nsPerOp - mean };
    };
    for (let i = 0; i < RUNS; i++) {
      const h = await startHelperNull(driver.pid);
      let l;
      try {
        res.helperIdle.push(await idle(h));
        l = await ladder(driver, h, log, 'C only');
      } finally {
        await h.stop();
      }
      res.helper.push({ ...l, probe: await paired(l.flat.nsPerOp) });

      const t = await bpftraceFlat(driver);
      res.bpftraceScript = t.script;
      res.bpftrace.push(await paired(t.nsPerOp));

      const c = await startCollector(dir, driver.pid);
      try {
        res.collectorIdle.push(await idle(c));
        l = await ladder(driver, c, log, 'collector');
      } finally {
        await c.stop();
      }
      res.collector.push({ ...l, probe: await paired(l.flat.nsPerOp) });
      log(`throughput: run ${i + 1}/${RUNS}: lossless C only ${Math.round(res.helper.at(-1).best?.deliveredRate ?? 0)}/s, ` +
        `collector ${Math.round(res.collector.at(-1).best?.deliveredRate ?? 0)}/s; getppid +${res.helper.at(-1).probe.added.toFixed(0)} ns bench sensor, ` +
        `+${res.bpftrace.at(-1).added.toFixed(0)} ns bpftrace`);
    }
    res.profile = await selfProfile(dir, driver);
  } finally {
    driver.proc.stdin.end();
    await stop(driver.proc, 'SIGTERM');
    if (mounted) execFileSync('umount', [TRACEFS]);
    rmSync(dir, { recursive: true, force: true });
  }
  res.seconds = (Date.now() - started) / 1000;
  log(`throughput: ${res.seconds.toFixed(0)} s`);
  return { runs: RUNS, flatSeconds: FLAT_SECONDS, stepSeconds: STEP_SECONDS, ladderSteps: LADDER_STEPS, fixedRate: FIXED_RATE, fixedSeconds: FIXED_SECONDS, fixedWarmSeconds: FIXED_WARM_SECONDS, ...res };
}

const k = (v) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${(v / 1e3).toFixed(0)}k`);
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;

export function throughputMarkdown(r) {
  const lossless = (runs) => median(runs.map((x) => x.best?.deliveredRate ?? 0));
  const bounded = (runs) => runs.filter((x) => x.flat.lossless).length;
  const c = lossless(r.collector), h = lossless(r.helper);
  const ratio = c / h;
  const flat = (runs, f) => median(runs.map((x) => f(x.flat)));
  const nsAdded = (xs) => median(xs.map((x) => x.added));
  const noise = median(r.steps);
  const row = (name, runs, idle) => `| ${name} | ${k(lossless(runs))}/s${bounded(runs) ? ` (flat out was lossless in ${bounded(runs)} of ${runs.length} runs: bounded by the driver)` : ''} | ` +
    `${k(flat(runs, (s) => s.producedRate))}/s produced, ${k(flat(runs, (s) => s.deliveredRate))}/s delivered, ${flat(runs, (s) => s.lossPct).toFixed(2)}% lost | ` +
    `${name.startsWith('collector') ? `${median(runs.map((x) => x.fixed.cpuNs)).toFixed(0)} ns (${median(runs.map((x) => x.fixed.cpuNs)) <= 150 ? 'goal ≤ 150 ns met' : '**goal ≤ 150 ns not met**'}); the first ${r.fixedSeconds} s: ${median(runs.map((x) => x.firstFixed.cpuNs)).toFixed(0)} ns` : 'no collector'} | ${median(runs.map((x) => x.fixed.helperCpuNs)).toFixed(0)} ns | ` +
    `${mib(median(idle.map((i) => i.helperRss)))} → ${mib(median(runs.map((x) => x.peakHelperRss)))} | ` +
    (name.startsWith('collector') ? `${mib(median(idle.map((i) => i.rss)))} → ${mib(median(runs.map((x) => x.peakRss)))} |` : '|');
  const goal = ratio >= 0.9 ? 'goal ≥ 90% met' : `**goal ≥ 90% not met**`;
  return `## Pipeline: throughput with zero loss

Command: \`npm run bench\` (section \`bench/throughput.mjs\`; alone: \`node bench/throughput.mjs\`). The
benchmark sensor ([ebpf/bench](ebpf/bench/README.md): \`raw_tp/sys_enter\` filtered in the kernel to
one process, one 56-byte \`bench_syscall\` record per syscall, threshold wakeups) traces
\`bench/syscall-driver.c\`, which calls \`getppid\` pinned to CPU ${DRIVER_CPU}, flat out or paced (1 ms
bursts). Two consumers, one at a time: **C only**, the same helper binary with \`--sink null\` (it
reads the ring buffer and discards the records, still counting drops), and the **collector**:
helper → pipe → decoder → the bench exporter (\`exporters/bench\`, one counter update per batch) in
its worker → series store, only the bench sensor enabled, default ring (4 MiB) and \`pollMs\`. The
consumer (the helper, or the collector with its threads and its helper) is pinned to CPU ${PIPELINE_CPU}. Each
does a ${r.flatSeconds} s flat-out step, then ${r.ladderSteps} paced steps of ${r.stepSeconds} s bisecting between the
highest lossless and the lowest lossy rate (starting just under what flat out delivered); a step
is lossless when the kernel dropped nothing, the exporter dropped nothing and the records counted
equal the records the program submitted (STATS). Then ${r.fixedSeconds} s at ${k(r.fixedRate)}/s for CPU per event
(schedstat, net of each process' idle CPU just before the step, the median of ${IDLE_SAMPLES} one-second samples; read ${FIXED_TAIL_MS} ms after the load, once its
last flush went through, and before the scrape that counts its events, whose own CPU is not the events'), then ${r.fixedWarmSeconds} s more at that rate
unmeasured and ${r.fixedSeconds} s measured again, the same way. The goal is judged on this warm step, as the storms' are: a collector
meets a stream after hours of running. The first step, beside it, also pays one-time work; outside the bench, per-thread CPU and
\`--trace-gc\` showed V8's platform threads busy (optimizing compiles of the per-frame code, which runs a few times a second and so
tiers up over seconds, and GC) in the first seconds of a stream, and the memory reducer's GCs ~8 s after start. Medians of ${r.runs} runs.

| consumer | highest lossless rate | flat out | collector CPU per event at ${k(r.fixedRate)}/s | helper CPU per event at ${k(r.fixedRate)}/s | helper RSS idle → under load | collector RSS idle → under load |
|---|---|---|---|---|---|---|
${row('C only (`--sink null`), baseline', r.helper, r.helperIdle)}
${row('collector (full pipeline)', r.collector, r.collectorIdle)}

Collector / C only, highest lossless rate: **${(ratio * 100).toFixed(0)}%** (${goal}).
A step lasts ${r.stepSeconds} s and the 4 MiB ring holds about 65k records, so a consumer slower than the
producer by less than ~65k records/s over a step is not seen as lossy: the lossless rates are an
upper bound within that margin. On 2 CPUs the driver owns CPU ${DRIVER_CPU} and the helper, the collector's
main thread and the exporter's worker share CPU ${PIPELINE_CPU} (unpinned, the helper, woken by the producer's
irq_work, is often placed on the driver's CPU, where the nice −20 loop starves it and the ring overflows).

**Cost per traced syscall**, ns added to the driver's flat-out \`getppid\` (median of ten slices)
against the mean of the no-probe runs around it (median baseline ${median(r.base).toFixed(0)} ns, ±${noise.toFixed(0)} ns between
consecutive baselines):

| probe | added ns per getppid | ratio |
|---|---|---|
| bpfwasm bench sensor, C-only consumer (a ring-buffer record per syscall) | +${nsAdded(r.helper.map((x) => x.probe)).toFixed(0)} ns | ${(median(r.helper.map((x) => x.probe.nsPerOp)) / median(r.base)).toFixed(2)}× |
| bpfwasm bench sensor, full collector | +${nsAdded(r.collector.map((x) => x.probe)).toFixed(0)} ns | ${(median(r.collector.map((x) => x.probe.nsPerOp)) / median(r.base)).toFixed(2)}× |
| bpftrace, in-kernel count per syscall id | +${nsAdded(r.bpftrace).toFixed(0)} ns | ${(median(r.bpftrace.map((x) => x.nsPerOp)) / median(r.base)).toFixed(2)}× |

bpftrace: \`bpftrace -e '${r.bpftraceScript.replace(/\/pid == \d+\//, '/pid == N/')}'\` (a classic tracepoint
through perf events, reading the formatted record; tracefs is mounted for it if it is not). The bench
sensor is a \`raw_tp\` program and streams every event to user space, yet costs less than bpftrace's
in-kernel count.

Helper (C only): \`ebpf/build/bpfwasm-helper --sensors bench --set bench.tgid=N --sink null --stats-ms ${STATS_MS}\`.
${r.profile ? `
**Collector CPU per event** at ${k(r.fixedRate)}/s is paid per frame, not per event. Under a stream of
1000 records a second or more the helper's wait doubles per poll from 4 × \`pollMs\` (20 ms) up to
\`busyPollMs\` (80 × \`pollMs\`: 400 ms), unless the \`wakeupBytes\` threshold (a quarter of the ring: 1 MiB)
fills first, which at this rate it does, every ~160 ms: EVENTS frames of ~16k records (~0.9 MB; at most
\`batchBytes\`, 1 MiB), plus the STATS frames of \`statsMs\` (${STATS_MS} ms here). Before issue #17's stream
changes the 64 KiB threshold fired every ~10 ms: ~100 frames a second of ~1000 records. The helper's socket
send buffer holds two such frames and the collector reads up to two in one read, so a frame is one write,
one read and one wake-up of each thread, not eight 128 KiB steps. Each frame costs two thread wake-ups: the main
thread woken by the helper's socket, and the exporter thread woken through the ring (\`Atomics.notify\`). A
third, the main thread woken again for the exporter thread's answer (\`done\`), is gone: the results come
back through a second ring in shared memory, applied by the main thread at the next frame or read of the
store (src/exporters/README.md, "Results without a wake-up"). The collector's threads went to sleep and woke
${Math.round(median(r.collector.map((x) => x.fixed.wakeupsPerSecond ?? 0)))} times a second at this rate, its main thread
${Math.round(median(r.collector.map((x) => x.fixed.mainWakeupsPerSecond ?? 0)))} times (voluntary context switches, \`/proc/PID/task/*/status\`; the
scrapes that check each step add a few, and ~20-25 of them are the idle collector's own). The work between them: the decode, the copy into the ring, the
module's batch call, applying its store updates; a frame is copied twice (into the exporter ring,
then into the module's memory), which the profile shows as memcpy/memmove. On this VM a wake-up is what costs (timer and
interrupt handling, the switch in and out, charged to the thread woken): an idle collector woke
~110-130 times a second (the exporter watchdog's and prom-client's event-loop sampler's 10 ms ticks)
for ~21-27 ms of CPU a second, ~200 µs a wake-up (2026-12-04, \`/proc/PID/task/*/status\` and
schedstat), so the watchdog is now armed for the next moment a deadline can pass and the delay is
sampled by the collector's 1 s clock (src/metrics/event-loop-delay.ts; idle since: fewer than ~19 wake-ups and ~6 ms of CPU a second; the figure above is net of
idle). Earlier changes removed the Node stream read of the pipe and the message per batch per
exporter, then the answer's wake-up, then most frames. The price is freshness under such a stream: a
record waits up to \`busyPollMs\` (ebpf/PROTOCOL.md, "When the helper flushes"); a lone event does not.

**Where the collector's CPU goes** at ${k(r.fixedRate)}/s: the collector profiled itself through its own
\`/flamegraph?pid=<its pid>\` (${r.profile.samples} samples at 499 Hz over ${PROFILE_SECONDS} s; Node run with
\`--perf-basic-prof-only-functions\` so JIT-compiled frames have names). Flamegraph:
[\`${r.profile.svg}\`](${r.profile.svg}); before the changes of issue #17 (2026-12-01, 871 ns per event):
[\`${PROFILE_BEFORE_SVG}\`](${PROFILE_BEFORE_SVG}). Frames with the most self time:

| frame | share of the collector's samples |
|---|---|
${r.profile.top.map((t) => `| \`${t.frame.replace(/\|/g, '\\|').slice(0, 110)}\` | ${(t.share * 100).toFixed(1)}% |`).join('\n')}
` : ''}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(throughputMarkdown(await benchThroughput()));
}
