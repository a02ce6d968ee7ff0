#!/usr/bin/env node
// Soak (issue #16): the real collector for --minutes (default 60) at a sustained event rate,
// while, on a schedule in "soak minutes" (1/60 of the run, so a short run keeps the shape):
//   every soak minute   the bench exporter is hot-swapped (its file in the watched directory
//                       rewritten, alternating two builds with the same metrics);
//   minutes 10,20,…,50  the helper is SIGKILLed (the collector restarts it);
//   minutes 20–25       the Loki double is down (connections refused);
//   minutes 35–40       the remote write double answers 503;
//   every second        /metrics and /federate are scraped (latency recorded).
// Every real minute: the collector's RSS (/proc) and heap used (nodejs_heap_size_used_bytes),
// the means of that minute's per-second readings. At the end: memory flat within ±5% after
// warm-up, exact event reconciliation, every swap taken, Loki (written = sent + dropped +
// buffered, sent = what the double accepted) and remote write (queued = sent + dropped + pending,
// sent = what the double accepted, every 503 counted) adding up, scrape p50/p99. Exits 1 if a
// check fails.
//
// Events: the bench sensor traces bench/syscall-driver.c (getppid, paced, CPU 0) as in
// bench/throughput.mjs. Before each kill and at the end the driver pauses and the counts settle,
// so every helper lifetime ends with all it saw reported; right after a kill the driver resumes,
// so events made while the helper is down are produced but never seen by the kernel program.
// The reconciliation, summed over helper lifetimes (bpfwasm rebases the helper's counters):
//   produced (kernel)  = submitted + ring drops
//   submitted          = helper records written        (nothing lost between ring and pipe)
//   records written    = collector received             (nothing lost on the pipe)
//   received           = bench exporter counted + exporter drops (processed = received − counted drops)
// and per driver step with the helper up: produced (kernel) ≥ the driver's calls (the driver's
// own few syscalls, sleeps and pipe I/O, are traced too).
//
// `npm run soak` (root; `npm run build` first) runs 60 minutes and writes the section into
// BENCHMARKS.md between soak markers, which `npm run bench` keeps. Options: --minutes N,
// --rate EVENTS_PER_S (default 2M/s: ~85% of the collector's lossless ceiling in BENCHMARKS.md),
// --write (update BENCHMARKS.md). JSON result: bench/results/soak.json.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startLokiReceiver } from './doubles/loki.mjs';
import { startRemoteWriteReceiver } from './doubles/remote-write.mjs';
import { childPidByComm, freePort, machine, median, parseExposition, rssBytes, sleep, total, totalWhere, waitHttp } from './lib.mjs';
import { stop } from './sensors.mjs';
import { variant } from './swap.mjs';
import { buildDriver, PIPELINE_CPU, startDriver } from './throughput.mjs';
import { COLLECTOR } from './startup.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const BENCHMARKS = join(ROOT, 'BENCHMARKS.md');
const RESULT = join(ROOT, 'bench/results/soak.json');
const BEGIN = '<!-- soak: written by npm run soak (bench/soak.mjs); npm run bench keeps it -->';
const END = '<!-- soak: end -->';
const STATS_MS = 100;
const STEP_SECONDS = 1;
const SCRAPE_MS = 1000;
const SETTLE_TIMEOUT_MS = 15_000;
const RW_INTERVAL_SECONDS = 5;
const FLAT_PCT = 5;
const SWAP_TIMEOUT_MS = 30_000;
const MAX_LOG_LINES = 500;
const FEDERATE = `/federate?match[]=${encodeURIComponent('{__name__=~"bpfwasm_.+"}')}`;
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

/** The soak's schedule in soak minutes (0–60), scaled to the run's length. */
export function schedule(minutes) {
  const unitMs = minutes * 1000; // one sixtieth of the run
  return {
    unitMs,
    swaps: Array.from({ length: 59 }, (_, i) => (i + 1) * unitMs),
    kills: [10, 20, 30, 40, 50].map((u) => u * unitMs),
    lokiDown: [20 * unitMs, 25 * unitMs],
    remoteWrite5xx: [35 * unitMs, 40 * unitMs],
    endMs: 60 * unitMs,
    // Warm-up: the first sixth of the run (10 of 60 minutes), at least one minute.
    warmupMinutes: Math.max(1, Math.round(minutes / 6)),
  };
}

/** Counts of the bench pipeline and of the shippers, from one /metrics scrape. */
function counts(m) {
  const dropped = (name) => total(m, name);
  return {
    submitted: totalWhere(m, 'bpfwasm_sensor_events_submitted_total', 'sensor="bench"'),
    ringDrops: totalWhere(m, 'bpfwasm_sensor_ring_drops_total', 'sensor="bench"'),
    written: totalWhere(m, 'bpfwasm_helper_records_written_total', 'type="bench_syscall"'),
    received: totalWhere(m, 'bpfwasm_events_received_total', 'type="bench_syscall"'),
    processed: totalWhere(m, 'bpfwasm_events_processed_total', 'type="bench_syscall"'),
    counted: m.get('bpfwasm_bench_events_total') ?? 0,
    exporterDropped: totalWhere(m, 'bpfwasm_exporter_dropped_events_total', 'exporter="bench"'),
    framesLost: m.get('bpfwasm_frames_lost_total') ?? 0,
    framesMalformed: m.get('bpfwasm_frames_malformed_total') ?? 0,
    framesTruncated: m.get('bpfwasm_frames_truncated_total') ?? 0,
    helperRestarts: m.get('bpfwasm_helper_restarts_total') ?? 0,
    swapsOk: totalWhere(m, 'bpfwasm_exporter_reloads_total', 'result="ok"'),
    swapsRejected: totalWhere(m, 'bpfwasm_exporter_reloads_total', 'result="rejected"'),
    helperUp: m.get('bpfwasm_helper_up') ?? 0,
    loki: {
      written: m.get('bpfwasm_log_lines_total') ?? 0,
      sent: m.get('bpfwasm_log_lines_sent_total') ?? 0,
      dropped: dropped('bpfwasm_log_lines_dropped_total'),
      buffered: m.get('bpfwasm_log_lines_buffered') ?? 0,
    },
    remoteWrite: {
      queued: m.get('bpfwasm_remote_write_samples_queued_total') ?? 0,
      pending: m.get('bpfwasm_remote_write_samples_pending') ?? 0,
      sent: m.get('bpfwasm_remote_write_samples_total') ?? 0,
      dropped: dropped('bpfwasm_remote_write_samples_dropped_total'),
      requests200: totalWhere(m, 'bpfwasm_remote_write_requests_total', 'code="200"'),
      requests503: totalWhere(m, 'bpfwasm_remote_write_requests_total', 'code="503"'),
      retries: m.get('bpfwasm_remote_write_retries_total') ?? 0,
    },
  };
}

const pipelineKey = (c) => [c.submitted, c.ringDrops, c.written, c.received, c.counted, c.exporterDropped].join();
const settledPipeline = (c) => c.submitted === c.written && c.written === c.received && c.received === c.counted + c.exporterDropped;

/** Reads until two readings STATS_MS×3 apart agree on `key` and `ok` holds (or the timeout); returns the last. */
async function settle(read, ok, key = JSON.stringify) {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let prev = await read();
  for (;;) {
    await sleep(STATS_MS * 3);
    const cur = await read();
    if ((key(cur) === key(prev) && ok(cur)) || Date.now() > deadline) return cur;
    prev = cur;
  }
}

export async function soak({ minutes = 60, rate = 2_000_000, log = console.error } = {}) {
  const plan = schedule(minutes);
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-soak-'));
  const exportersDir = join(dir, 'exporters');
  mkdirSync(exportersDir);
  // Every built-in exporter, from the watched directory, so the bench one can be swapped there.
  const builtins = join(ROOT, 'exporters/build');
  for (const f of readdirSync(builtins).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(builtins, f), join(exportersDir, f));
  const benchBuilds = [readFileSync(join(builtins, 'bench.wasm')), variant(readFileSync(join(builtins, 'bench.wasm')), 'soak')];

  const driver = await startDriver(buildDriver(dir));
  let loki = await startLokiReceiver();
  const lokiPort = loki.port;
  let lokiAccepted = 0; // entries accepted by earlier instances of the Loki double
  let rw5xx = false;
  const rw = await startRemoteWriteReceiver(() => (rw5xx ? { status: 503 } : { status: 200 }), { keep: false });

  const config = join(dir, 'soak.json');
  writeFileSync(config, JSON.stringify({
    listen: { host: '127.0.0.1' },
    log: { level: 'info', loki: { url: loki.url, batchIntervalMs: 1000 } },
    helper: { statsMs: STATS_MS },
    sensors: { bench: { enabled: true, tgid: driver.pid } },
    exporters: { builtin: false, dirs: [exportersDir], watch: true },
    remoteWrite: { url: rw.url, intervalSeconds: RW_INTERVAL_SECONDS },
    api: { socket: join(dir, 'api.sock') },
  }));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const collector = spawn('taskset', ['-c', String(PIPELINE_CPU), COLLECTOR, 'run', '--config', config, '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  // The collector's log (pino JSON lines on stdout): swaps taken, and warnings and errors by message.
  const logged = { swaps: 0, levels: {}, lines: [] };
  let logTail = '';
  collector.stdout.on('data', (d) => {
    const lines = (logTail + d).split('\n');
    logTail = lines.pop();
    for (const line of lines) {
      if (line.includes('swapped version ')) logged.swaps++; // the registry's one line per swap
      const level = Number(/"level":(\d+)/.exec(line)?.[1]);
      if (level >= 40) logged.levels[level] = (logged.levels[level] ?? 0) + 1;
      // What the report needs to explain a failed check: warnings, errors and the bench module's fate.
      if ((level >= 40 || line.includes('"exporter":"bench"')) && logged.lines.length < MAX_LOG_LINES) logged.lines.push(line);
    }
  });
  const failures = [];
  const res = { minutes, rate, machine: machine(), warmupMinutes: plan.warmupMinutes, memory: [], kills: [], swaps: 0, scrapes: {}, checks: [] };
  const latency = { metrics: [], federate: [] };
  const swapMs = [];
  let scrapeErrors = 0, scrapesSkipped = 0;
  const minuteSamples = { rss: [], heap: [], metrics: [], federate: [] };
  let timers = [];
  try {
    await waitHttp(`${base}/readyz`, 200, 60_000);
    const metricsNow = async () => parseExposition(await (await fetch(`${base}/metrics`)).text());
    const t0 = Date.now();
    log(`soak: ${minutes} min at ${rate}/s; collector pid ${collector.pid}, driver pid ${driver.pid}; warm-up ${plan.warmupMinutes} min`);

    // The driver: back-to-back 1 s paced steps until paused or the end.
    let paused = true, ended = false, stepping = Promise.resolve();
    const produced = { calls: 0, steps: 0 };
    const driveLoop = async () => {
      while (!paused && !ended) {
        produced.calls += (await driver.step(rate, STEP_SECONDS)).calls;
        produced.steps++;
      }
    };
    const resume = () => { paused = false; stepping = driveLoop(); };
    // Settle points: the driver paused and every count settled; the spans between them are
    // helper lifetimes (all seen) or restarts (a kill to the new helper up: partly unseen).
    const points = [];
    const settlePoint = async (kind) => {
      paused = true;
      await stepping;
      const c = await settle(async () => counts(await metricsNow()), settledPipeline, pipelineKey);
      points.push({ kind, kernel: c.submitted + c.ringDrops, calls: produced.calls, settled: settledPipeline(c) });
    };
    await settlePoint('start');
    resume();

    // Scrapes every second: /metrics then /federate, and the collector's RSS.
    let scraping = false;
    const scrape = async () => {
      if (scraping) return void scrapesSkipped++;
      scraping = true;
      try {
        for (const [name, path] of [['metrics', '/metrics'], ['federate', FEDERATE]]) {
          const a = performance.now();
          const r = await fetch(base + path);
          const text = await r.text();
          latency[name].push(performance.now() - a);
          minuteSamples[name].push(performance.now() - a);
          if (r.status !== 200) { scrapeErrors++; continue; }
          if (name === 'metrics') minuteSamples.heap.push(parseExposition(text).get('nodejs_heap_size_used_bytes') ?? NaN);
        }
        minuteSamples.rss.push(rssBytes(collector.pid));
      } catch (e) {
        scrapeErrors++;
        log(`soak: scrape failed: ${e.message}`);
      } finally {
        scraping = false;
      }
    };
    timers.push(setInterval(scrape, SCRAPE_MS));
    let minute = 0;
    const recordMinute = () => {
      minute++;
      const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
      const row = { minute, rss: mean(minuteSamples.rss), heap: mean(minuteSamples.heap.filter(Number.isFinite)),
        metricsP99: pct(minuteSamples.metrics, 99), federateP99: pct(minuteSamples.federate, 99), load: loadavg()[0] };
      for (const k of Object.keys(minuteSamples)) minuteSamples[k] = [];
      res.memory.push(row);
      log(`soak: minute ${minute}${minute <= plan.warmupMinutes ? ' (warm-up)' : ''}: collector RSS ${mib(row.rss)}, heap used ${mib(row.heap)}, host load ${row.load.toFixed(1)}; ` +
        `scrape p99 /metrics ${row.metricsP99.toFixed(1)} ms, /federate ${row.federateP99.toFixed(1)} ms; swaps ${res.swaps}, helper kills ${res.kills.length}, events ${produced.calls}`);
    };
    timers.push(setInterval(recordMinute, 60_000));

    // The schedule: one sorted list of actions at their times.
    const actions = [
      ...plan.swaps.map((at) => ({ at, what: 'swap' })),
      ...plan.kills.map((at) => ({ at, what: 'kill' })),
      { at: plan.lokiDown[0], what: 'loki down' }, { at: plan.lokiDown[1], what: 'loki up' },
      { at: plan.remoteWrite5xx[0], what: 'rw 5xx' }, { at: plan.remoteWrite5xx[1], what: 'rw ok' },
    ].sort((a, b) => a.at - b.at);
    for (const a of actions) {
      await sleep(Math.max(0, t0 + a.at - Date.now()));
      if (a.what === 'swap') {
        // One swap at a time: the next file is written once the collector took this one, else
        // two writes during a slow reload would leave the running version in place.
        const bytes = benchBuilds[++res.swaps % 2];
        const tmp = join(dir, 'bench.wasm.tmp');
        const seen = logged.swaps, at = Date.now();
        writeFileSync(tmp, bytes);
        renameSync(tmp, join(exportersDir, 'bench.wasm')); // whole, so the watcher never reads half a module
        while (logged.swaps === seen && Date.now() - at < SWAP_TIMEOUT_MS) await sleep(10);
        if (logged.swaps > seen) swapMs.push(Date.now() - at);
      } else if (a.what === 'kill') {
        await settlePoint('kill');
        const pid = childPidByComm(collector.pid, 'bpfwasm-helper');
        const killedAt = Date.now();
        process.kill(pid, 'SIGKILL');
        resume(); // events made from now until the new helper attaches are never seen
        let up;
        for (;;) {
          await sleep(20);
          const c = counts(await metricsNow());
          const now = childPidByComm(collector.pid, 'bpfwasm-helper');
          if (now && now !== pid && c.helperUp === 1) { up = Date.now(); break; }
          if (Date.now() - killedAt > 60_000) throw new Error('the helper did not come back within 60 s of SIGKILL');
        }
        res.kills.push({ atMinute: (killedAt - t0) / 60_000, settled: points.at(-1).settled, downMs: up - killedAt });
        log(`soak: helper ${pid} SIGKILLed (counts settled: ${points.at(-1).settled}); back up after ${up - killedAt} ms`);
        await settlePoint('up');
        resume();
      } else if (a.what === 'loki down') {
        lokiAccepted += loki.entries.length;
        await loki.close();
        log('soak: Loki down');
      } else if (a.what === 'loki up') {
        loki = await startLokiReceiver(lokiPort);
        log('soak: Loki up');
      } else {
        rw5xx = a.what === 'rw 5xx';
        log(`soak: remote write ${rw5xx ? 'answers 503' : 'answers 200 again'}`);
      }
    }
    await sleep(Math.max(0, t0 + plan.endMs - Date.now()));
    for (const t of timers) clearInterval(t);
    timers = [];
    ended = true;
    while (scraping) await sleep(10);
    if (minuteSamples.rss.length >= 30) recordMinute(); // the last minute, if most of it was run
    await settlePoint('end');

    // Final reading, once everything has settled (remote write needs one interval plus a retry).
    const fin = await settle(async () => {
      const c = counts(await metricsNow());
      return { ...c, lokiReceived: lokiAccepted + loki.entries.length, rwReceived: rw.counts.samples[200] ?? 0 };
    }, (c) => settledPipeline(c) && c.loki.sent === c.lokiReceived && c.loki.buffered === 0 && c.remoteWrite.sent === c.rwReceived);
    res.final = fin;
    // Driver calls against what the kernel program saw, per span between settle points.
    const spans = points.slice(1).map((p, i) => ({ down: points[i].kind === 'kill', calls: p.calls - points[i].calls, kernel: p.kernel - points[i].kernel }));
    const sum = (xs, k) => xs.reduce((n, x) => n + x[k], 0);
    const up = spans.filter((x) => !x.down), down = spans.filter((x) => x.down);
    res.produced = { ...produced, upCalls: sum(up, 'calls'), upKernel: sum(up, 'kernel'), downCalls: sum(down, 'calls'), downKernel: sum(down, 'kernel') };
    res.swapMs = { p50: median(swapMs), max: Math.max(...swapMs) };
    res.receiver = { loki: { accepted: fin.lokiReceived }, remoteWrite: rw.counts };

    const check = (name, ok, detail) => {
      res.checks.push({ name, ok, detail });
      if (!ok) failures.push(name);
      log(`soak: ${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
    };
    const kernelProduced = fin.submitted + fin.ringDrops;
    check('events: produced = processed + counted drops', kernelProduced === fin.counted + fin.exporterDropped + fin.ringDrops,
      `produced ${kernelProduced} (submitted + ring drops) = processed by the exporter ${fin.counted} + exporter drops ${fin.exporterDropped} + ring drops ${fin.ringDrops}`);
    check('events: submitted = helper records written = collector received', fin.submitted === fin.written && fin.written === fin.received,
      `${fin.submitted} = ${fin.written} = ${fin.received}`);
    check('events: processed = received − exporter drops', fin.counted === fin.received - fin.exporterDropped && fin.processed === fin.received,
      `counted ${fin.counted} = ${fin.received} − ${fin.exporterDropped}; handed to the exporter ${fin.processed}`);
    check('frames: none lost, malformed or truncated', fin.framesLost + fin.framesMalformed + fin.framesTruncated === 0,
      `lost ${fin.framesLost}, malformed ${fin.framesMalformed}, truncated ${fin.framesTruncated}`);
    const pr = res.produced;
    check('driver: the kernel saw every call of each helper lifetime', up.every((x) => x.kernel >= x.calls),
      `${pr.upCalls} calls, ${pr.upKernel} events (the driver's own syscalls: ${pr.upKernel - pr.upCalls}); during restarts ${pr.downCalls} calls, ` +
      `${pr.downKernel} events: ≥ ${pr.downCalls - pr.downKernel} calls unseen while the helper was down`);
    check('helper: every kill restarted, counts settled before it', res.kills.length === plan.kills.length && res.kills.every((k) => k.settled) &&
      fin.helperRestarts === plan.kills.length, `${res.kills.length} kills, ${fin.helperRestarts} restarts, down ${res.kills.map((k) => k.downMs).join(', ')} ms`);
    check('exporters: every swap taken', fin.swapsOk === res.swaps && fin.swapsRejected === 0 && swapMs.length === res.swaps,
      `${res.swaps} files written, bpfwasm_exporter_reloads_total ok ${fin.swapsOk}, rejected ${fin.swapsRejected}; file written → swap logged p50 ${res.swapMs.p50} ms, max ${res.swapMs.max} ms`);
    res.logged = logged;
    const l = fin.loki;
    check('Loki: written = sent + dropped + buffered', l.written === l.sent + l.dropped + l.buffered,
      `${l.written} = ${l.sent} + ${l.dropped} + ${l.buffered}; the double accepted ${fin.lokiReceived}`);
    check('Loki: sent = lines the double accepted', l.sent === fin.lokiReceived, `${l.sent} = ${fin.lokiReceived}`);
    const r = fin.remoteWrite;
    check('remote write: queued = sent + dropped + pending', r.queued === r.sent + r.dropped + r.pending,
      `${r.queued} = ${r.sent} + ${r.dropped} + ${r.pending}`);
    check('remote write: sent = samples the double accepted', r.sent === fin.rwReceived && r.requests200 === (rw.counts.requests[200] ?? 0),
      `${r.sent} = ${fin.rwReceived} samples, ${r.requests200} = ${rw.counts.requests[200] ?? 0} requests; dropped ${r.dropped}`);
    check('remote write: every 503 counted and retried', r.requests503 === (rw.counts.requests[503] ?? 0) && r.requests503 > 0 && r.retries >= r.requests503,
      `${r.requests503} = ${rw.counts.requests[503] ?? 0} answers 503, ${r.retries} retries`);
    const after = res.memory.filter((x) => x.minute > plan.warmupMinutes);
    for (const [key, what] of [['rss', 'RSS'], ['heap', 'heap used']]) {
      const mean = after.reduce((s, x) => s + x[key], 0) / after.length;
      const worst = Math.max(...after.map((x) => Math.abs(x[key] - mean) / mean)) * 100;
      res[`${key}FlatPct`] = worst;
      check(`memory: ${what} flat within ±${FLAT_PCT}% after warm-up`, after.length > 0 && worst <= FLAT_PCT,
        `minutes ${plan.warmupMinutes + 1}–${res.memory.length}: mean ${mib(mean)}, widest ${worst.toFixed(1)}% off`);
    }
    res.scrapes = Object.fromEntries(Object.entries(latency).map(([k, xs]) => [k, { count: xs.length, p50: median(xs), p99: pct(xs, 99), max: Math.max(...xs) }]));
    res.scrapes.errors = scrapeErrors;
    res.scrapes.skipped = scrapesSkipped;
    check('scrapes: all answered', scrapeErrors === 0, `${latency.metrics.length} /metrics, ${latency.federate.length} /federate, ${scrapeErrors} failed, ${scrapesSkipped} skipped (previous one still running)`);
  } finally {
    for (const t of timers) clearInterval(t);
    await stop(collector, 'SIGTERM');
    const code = collector.exitCode;
    if (res.checks.length) {
      log(`soak: ${code === 0 ? 'ok  ' : 'FAIL'} collector: clean exit on SIGTERM: exit ${code ?? collector.signalCode}`);
      res.checks.push({ name: 'collector: clean exit on SIGTERM', ok: code === 0, detail: `exit ${code}` });
      if (code !== 0) failures.push('collector exit');
    }
    driver.proc.stdin.end();
    await stop(driver.proc, 'SIGTERM');
    await loki.close();
    await rw.close();
    rmSync(dir, { recursive: true, force: true });
  }
  res.failures = failures;
  return res;
}

export function soakMarkdown(r) {
  const sc = r.scrapes;
  const rows = r.memory.map((x) => `| ${x.minute}${x.minute <= r.warmupMinutes ? ' (warm-up)' : ''} | ${mib(x.rss)} | ${mib(x.heap)} | ${x.metricsP99.toFixed(1)} ms | ${x.federateP99.toFixed(1)} ms | ${x.load.toFixed(1)} |`);
  const short = r.minutes < 60 ? `\n**A ${r.minutes}-minute run, not the 1-hour soak**: the schedule is scaled down and the memory figures say little.\n` : '';
  return `${BEGIN}
## Soak: ${r.minutes} minutes under load and faults

Command: \`npm run soak\` (\`node bench/soak.mjs --minutes ${r.minutes} --rate ${r.rate} --write\`), ${new Date().toISOString().slice(0, 10)}.
Machine: ${r.machine}. The collector runs with its default sensors, the bench sensor tracing
\`bench/syscall-driver.c\` paced at ${r.rate} getppid/s (1 s steps, CPU 0; the collector on CPU 1), every
built-in exporter loaded from a watched directory, Loki and remote write (every ${RW_INTERVAL_SECONDS} s) to local doubles.
On a schedule in sixtieths of the run: the bench exporter hot-swapped every sixtieth (${r.swaps} swaps),
the helper SIGKILLed at 10, 20, 30, 40 and 50, Loki down from 20 to 25, remote write answered 503 from
35 to 40; /metrics and /federate scraped every second.
${short}
| check | result | detail |
|---|---|---|
${r.checks.map((c) => `| ${c.name} | ${c.ok ? 'ok' : '**failed**'} | ${c.detail} |`).join('\n')}

Reconciliation, summed over helper lifetimes (before each kill and at the end the driver pauses
until the counts settle; after a kill it resumes at once, so events made while the helper is down
are never seen by the kernel program): produced = submitted + ring drops; submitted = helper
records written = collector received; received = exporter counted + exporter drops.
Helper back up after SIGKILL: ${r.kills.map((k) => `${k.downMs} ms`).join(', ')}.

Scrape latency (${sc.metrics.count} scrapes each, request to full body): /metrics p50 ${sc.metrics.p50.toFixed(1)} ms,
p99 ${sc.metrics.p99.toFixed(1)} ms, max ${sc.metrics.max.toFixed(1)} ms; /federate (\`{__name__=~"bpfwasm_.+"}\`) p50
${sc.federate.p50.toFixed(1)} ms, p99 ${sc.federate.p99.toFixed(1)} ms, max ${sc.federate.max.toFixed(1)} ms.

Memory, means of the per-second readings of each minute (warm-up: the first ${r.warmupMinutes}); after warm-up
RSS stays within ±${r.rssFlatPct.toFixed(1)}% and heap used within ±${r.heapFlatPct.toFixed(1)}% of their mean (goal ±${FLAT_PCT}%):

| minute | collector RSS | heap used | /metrics p99 | /federate p99 | host load average (1 min, ${cpus().length} CPUs) |
|---|---|---|---|---|---|
${rows.join('\n')}
${END}
`;
}

/** The soak section of a BENCHMARKS.md text ('' when none), for bench/run.mjs to keep. */
function soakSection(text) {
  const a = text.indexOf(BEGIN), b = text.indexOf(END);
  return a >= 0 && b > a ? `${text.slice(a, b + END.length)}\n` : '';
}

function writeSection(md) {
  let text = readFileSync(BENCHMARKS, 'utf8');
  const old = soakSection(text);
  text = old ? text.replace(old, md) : `${text.trimEnd()}\n\n${md}`;
  writeFileSync(BENCHMARKS, text);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '60' }, rate: { type: 'string', default: '2000000' }, write: { type: 'boolean', default: false } } });
  const minutes = Number(values.minutes), rate = Number(values.rate);
  if (!(minutes >= 2) || !(rate > 0)) throw new Error('--minutes must be at least 2 and --rate positive');
  const r = await soak({ minutes, rate });
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(RESULT, JSON.stringify(r, null, 2));
  const md = soakMarkdown(r);
  console.log(md);
  if (values.write) writeSection(md);
  if (r.failures.length) {
    console.error(`soak: FAILED: ${r.failures.join('; ')}`);
    process.exit(1);
  }
}
