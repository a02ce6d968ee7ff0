// Freshness (issue #9): the delay from a kernel event to its visibility on the collector.
// The collector runs with its default sensors and exporters. Every INTERVAL_MS the bench execs a
// uniquely named static program (bench/fresh.c) that prints CLOCK_MONOTONIC as its first act,
// and polls `/federate?match[]=bpfwasm_process_exec_total{comm="NAME"}` about every
// millisecond until the count includes that exec. Node's hrtime is CLOCK_MONOTONIC too, the
// clock of the kernel's event timestamps, so the delay is taken from the exec itself (the
// program's first instruction, microseconds after the sched_process_exec event) to the poll
// response that showed it; the delay from just before spawn is reported as well. Low rate: the
// execs alone. High rate: the same while `bench/storm.c` creates threads in the background.
//
// Alone: `node bench/freshness.mjs` (root; `npm run build` first). BENCH_FRESH_SAMPLES (600 at low rate;
// a third of it under the storm, where each sample waits for a busy flush).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, sleep, waitHttp } from './lib.mjs';
import { stop } from './sensors.mjs';
import { COLLECTOR } from './startup.mjs';

const ROOT = resolve(import.meta.dirname, '..');
/** At low rate: the p99 of 200 was the 2nd-largest sample, and swung by ±2 ms from run to run. */
const SAMPLES = Number(process.env.BENCH_FRESH_SAMPLES ?? 600);
const STORM_SAMPLES = Math.ceil(SAMPLES / 3);
const INTERVAL_MS = 50;
const POLL_MS = 1;
const TIMEOUT_MS = 5000;
const STORM_WORKERS = 1;
/** Issue #17: event → visible, p99 at low rate. */
const GOAL_P99_MS = 10;

const hrNs = () => Number(process.hrtime.bigint());
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

/** Execs `bin` and resolves with the CLOCK_MONOTONIC ns it printed. */
function exec(bin) {
  return new Promise((ok, fail) => {
    const p = spawn(bin, [], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', fail);
    p.on('close', (code) => (code === 0 ? ok(Number(out.trim())) : fail(new Error(`${bin} exited ${code}`))));
  });
}

// One kept-alive connection, as Prometheus scrapes: fetch() added ~2.5 ms of client work to every poll.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(url) {
  return new Promise((ok, fail) => {
    http.get(url, { agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => ok(text));
    }).on('error', fail);
  });
}

async function count(url) {
  const text = await get(url);
  const line = text.split('\n').find((l) => l.startsWith('bpfwasm_process_exec_total{'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function samples(bin, url, log, label, n) {
  const fromExec = [], fromSpawn = [];
  let polls = 0, pollNs = 0;
  let want = await count(url);
  for (let i = 0; i < n; i++) {
    want++;
    const t0 = hrNs();
    const execNs = exec(bin);
    let seen;
    for (;;) {
      const start = hrNs();
      const n = await count(url);
      polls++;
      pollNs += hrNs() - start;
      if (n >= want) {
        // The response shows the store at some instant during the request: take its middle.
        seen = (start + hrNs()) / 2;
        break;
      }
      if (start - t0 > TIMEOUT_MS * 1e6) throw new Error(`freshness: exec ${want} of ${bin} not visible after ${TIMEOUT_MS} ms`);
      const wait = POLL_MS - (hrNs() - start) / 1e6;
      if (wait > 0) await sleep(wait);
    }
    fromExec.push((seen - (await execNs)) / 1e6);
    fromSpawn.push((seen - t0) / 1e6);
    const rest = INTERVAL_MS - (hrNs() - t0) / 1e6;
    if (rest > 0) await sleep(rest);
  }
  const r = {
    p50: quantile(fromExec, 0.5), p99: quantile(fromExec, 0.99), max: Math.max(...fromExec),
    spawnP50: quantile(fromSpawn, 0.5), spawnP99: quantile(fromSpawn, 0.99), pollMs: pollNs / polls / 1e6,
  };
  log(`freshness ${label}: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms from the exec; ` +
    `p50 ${r.spawnP50.toFixed(1)} ms, p99 ${r.spawnP99.toFixed(1)} ms from before spawn; a poll takes ${r.pollMs.toFixed(2)} ms`);
  return r;
}

export async function benchFreshness(log = console.error) {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-fresh-'));
  // A comm no other process has, so the counter moves only with our execs (≤ 15 bytes).
  const name = `bpfwfr${process.pid % 1_000_000}`;
  const bin = join(dir, name);
  try {
    execFileSync('cc', ['-O2', '-static', '-o', bin, join(ROOT, 'bench/fresh.c')]);
  } catch {
    execFileSync('cc', ['-O2', '-o', bin, join(ROOT, 'bench/fresh.c')]); // no static libc: the loader adds ~0.3 ms
  }
  const storm = join(dir, 'storm');
  execFileSync('cc', ['-O2', '-pthread', '-o', storm, join(ROOT, 'bench/storm.c')]);
  const config = join(dir, 'config.yaml');
  writeFileSync(config, 'listen: { host: 127.0.0.1 }\nlog: { level: warn }\n');
  const port = await freePort();
  const proc = spawn(COLLECTOR, ['run', '--config', config, '--port', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/federate?match[]=${encodeURIComponent(`bpfwasm_process_exec_total{comm="${name}"}`)}`;
  const { defaultConfig } = await import(pathToFileURL(join(ROOT, 'dist/src/config.js')).href);
  let stormProc;
  try {
    await waitHttp(`http://127.0.0.1:${port}/readyz`);
    await sleep(500);
    const low = await samples(bin, url, log, 'low rate', SAMPLES);
    // The storm runs longer than the samples take and is stopped after them.
    stormProc = spawn(storm, [String(Math.ceil((STORM_SAMPLES * INTERVAL_MS * 3) / 1000) + 30), String(STORM_WORKERS), 'threads'], { stdio: 'ignore' });
    await sleep(500);
    const m0 = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const t0 = hrNs();
    const high = await samples(bin, url, log, 'thread storm', STORM_SAMPLES);
    const m1 = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const received = (t) => t.split('\n').filter((l) => l.startsWith('bpfwasm_events_received_total{')).reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    high.eventsPerSecond = (received(m1) - received(m0)) / ((hrNs() - t0) / 1e9);
    return { samples: SAMPLES, stormSamples: STORM_SAMPLES, intervalMs: INTERVAL_MS, pollMs: defaultConfig().helper.pollMs,
      // The helper's default (ebpf/helper/options.c): 80 × pollMs, at most 10 s.
      busyPollMs: defaultConfig().helper.busyPollMs || Math.min(80 * defaultConfig().helper.pollMs, 10_000), workers: STORM_WORKERS, low, high, seconds: (Date.now() - started) / 1000 };
  } finally {
    if (stormProc) await stop(stormProc, 'SIGTERM');
    await stop(proc, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

export function freshnessMarkdown(r) {
  const ms = (v) => `${v.toFixed(1)} ms`;
  const goal = r.low.p99 <= GOAL_P99_MS ? `goal ≤ ${GOAL_P99_MS} ms met` : `**goal ≤ ${GOAL_P99_MS} ms not met**`;
  return `## Pipeline: freshness, kernel event to visible on the collector

Command: \`npm run bench\` (section \`bench/freshness.mjs\`; alone: \`node bench/freshness.mjs\`). The
collector with its default sensors and exporters. Every ${r.intervalMs} ms the bench execs a uniquely named
static program (\`bench/fresh.c\`) that prints \`CLOCK_MONOTONIC\` first thing, and polls
\`/federate?match[]=bpfwasm_process_exec_total{comm="NAME"}\` every ~1 ms until the count includes that
exec. Node's hrtime is \`CLOCK_MONOTONIC\` too (the clock of the kernel's event timestamps), so the delay
runs from the exec itself to the poll response that showed it; "from spawn" starts just before Node
spawns the program (it adds Node's fork and exec). ${r.samples} samples at low rate, ${r.stormSamples}
under the storm; the thread storm is
\`bench/storm.c\` with ${r.workers} worker creating threads throughout (${Math.round(r.high.eventsPerSecond)} events/s through the pipeline).

| load | p50 | p99 | max | from spawn: p50 / p99 |
|---|---|---|---|---|
| low rate (an exec every ${r.intervalMs} ms) | ${ms(r.low.p50)} | ${ms(r.low.p99)} (${goal}) | ${ms(r.low.max)} | ${ms(r.low.spawnP50)} / ${ms(r.low.spawnP99)} |
| thread storm in the background | ${ms(r.high.p50)} | ${ms(r.high.p99)} | ${ms(r.high.max)} | ${ms(r.high.spawnP50)} / ${ms(r.high.spawnP99)} |

What bounds it at low rate: not the ring buffer any more. A record on a CPU that submitted nothing for
\`helper.pollMs\` (${r.pollMs} ms here) wakes the helper at once, and the helper then polls every 1 ms through
that \`pollMs\` to pick up the records right behind it (the exec after its fork, 3-5 ms behind it when Node
spawns: no other quiet record may wake the helper meanwhile; ebpf/PROTOCOL.md, "When the helper flushes").
With 3 such polls, an exec 4 ms behind its fork waited for the next poll, 5 ms later: on 2026-12-05, in 3 runs of this
bench the low-rate p99 read 9.0-11.0 ms with 3 polls and 8.1-8.9 ms with 5. Before the quiet-spell
wakeup, a lone record waited for the poll, up to ${r.pollMs} ms. Then a frame on the socket, the decoder, a batch to the process exporter's thread and its updates back to the store, and the
poll: a \`/federate\` round trip over one kept-alive connection took ${r.low.pollMs.toFixed(1)} ms on average here (${r.high.pollMs.toFixed(1)} ms under the storm;
fetch() with a connection per request had taken ~7 ms, mostly the client's own work). A request no longer
reads the runtime metrics every time (at most every 100 ms) nor walks the families its selectors cannot
match: polled every millisecond, it had cost the collector ~3-5 ms of CPU each, so the polls themselves
delayed the pipeline. The visible time is taken at the middle of the request that showed the exec, so the
figures carry up to half a round trip of uncertainty. Under a storm every poll finds records, so the helper
waits up to \`helper.busyPollMs\` (${r.busyPollMs} ms here) unless \`wakeupBytes\` fill first: fewer frames for the
collector, and up to that long in the ring for the exec; and every stage shares 2 CPUs with the storm.
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(freshnessMarkdown(await benchFreshness()));
}
