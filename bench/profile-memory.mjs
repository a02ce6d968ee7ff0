// The collector's memory around CPU profiles (issue #17): RSS idle, during, right after and 30 s
// after two whole-node profiles taken as a new user would (`curl localhost:9745/flamegraph`:
// the defaults, 10 s at 99 Hz, the HTML page), with the goal met or not: back within 10% of idle.
//
// Alone: `node bench/profile-memory.mjs` (root; `npm run build` first). BENCH_RUNS (3).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, parseExposition, rssBytes, sleep } from './lib.mjs';
import { COLLECTOR, benchConfig, collectorArgs, stop, timeToReady } from './startup.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MiB = 2 ** 20;
const PROFILES = 2;
const SETTLE_MS = 10_000;
const AFTER_MS = 30_000;

/** The goal of issue #17: RSS 30 s after the profiles within this share of the idle RSS. */
export const GOAL_SHARE = 0.1;

/** The V8 heap and the memory outside it, from the collector's own runtime metrics. */
async function runtimeMemory(port) {
  const m = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  return { heapUsed: m.get('nodejs_heap_size_used_bytes'), heapTotal: m.get('nodejs_heap_size_total_bytes'), external: m.get('nodejs_external_memory_bytes') };
}

async function oneRun(config, log) {
  const { proc, port } = await timeToReady(collectorArgs(config), '/readyz', COLLECTOR);
  try {
    await sleep(SETTLE_MS);
    const idleSamples = [];
    for (let i = 0; i < 5; i++, await sleep(500)) idleSamples.push(rssBytes(proc.pid));
    const idle = median(idleSamples);
    const idleRuntime = await runtimeMemory(port);
    let peak = idle;
    const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(proc.pid)); }, 100);
    const samples = [];
    try {
      for (let i = 0; i < PROFILES; i++) {
        log(`profile memory: profile ${i + 1}/${PROFILES}`);
        const res = await fetch(`http://127.0.0.1:${port}/flamegraph`);
        const body = await res.text();
        if (res.status !== 200) throw new Error(`/flamegraph answered ${res.status}: ${body.slice(0, 300)}`);
        samples.push(Number(/(\d+) samples at/.exec(body)?.[1] ?? NaN));
      }
    } finally {
      clearInterval(sampler);
    }
    const rightAfter = rssBytes(proc.pid);
    peak = Math.max(peak, rightAfter);
    const after = [];
    for (let s = 10_000; s <= AFTER_MS; s += 10_000) {
      await sleep(10_000);
      after.push(rssBytes(proc.pid));
    }
    const afterRuntime = await runtimeMemory(port);
    return { idle, peak, rightAfter, after10: after[0], after30: after.at(-1), idleRuntime, afterRuntime, samples };
  } finally {
    await stop(proc);
  }
}

export async function benchProfileMemory(log = console.error) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-'));
  try {
    const config = benchConfig(dir);
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      log(`profile memory: run ${i + 1}/${RUNS}`);
      runs.push(await oneRun(config, log));
    }
    const r = summarize(runs);
    log(`profile memory: RSS idle ${mib(r.idle)}, peak ${mib(r.peak)}, right after ${mib(r.rightAfter)}, 30 s after ${mib(r.after30)}`);
    return { runs: RUNS, ...r, raw: runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(runs) {
  const m = (f) => median(runs.map(f));
  return {
    idle: m((r) => r.idle), peak: m((r) => r.peak), rightAfter: m((r) => r.rightAfter), after10: m((r) => r.after10), after30: m((r) => r.after30),
    // The share over idle per run, then its median: each run compares with its own idle.
    growth: m((r) => r.after30 / r.idle - 1),
    heapIdle: m((r) => r.idleRuntime.heapUsed), heapAfter: m((r) => r.afterRuntime.heapUsed),
    externalIdle: m((r) => r.idleRuntime.external), externalAfter: m((r) => r.afterRuntime.external),
    samples: m((r) => r.samples[0]),
  };
}

const mib = (b) => `${(b / MiB).toFixed(1)} MiB`;

export function profileMemoryMarkdown(r) {
  const met = r.growth <= GOAL_SHARE;
  const goal = met ? `goal ≤ +${GOAL_SHARE * 100}% met` : `**goal ≤ +${GOAL_SHARE * 100}% not met**`;
  const pct = (v) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;
  return `## CPU profiler: the collector's memory around profiles

Command: \`npm run bench\` (section \`bench/profile-memory.mjs\`; alone: \`node bench/profile-memory.mjs\`).
The collector (\`bin/bpfwasm run\`) with its default config, idle for ${SETTLE_MS / 1000} s, then ${PROFILES} whole-node profiles one after the other,
as a new user takes them: \`GET /flamegraph\` (the defaults: 10 s at 99 Hz, the HTML page; about ${r.samples}
samples each on this shared machine, every process on it); then idle again. RSS from \`/proc/PID/status\`,
sampled every 100 ms while profiling; heap and external memory from the collector's own
\`nodejs_heap_size_used_bytes\` and \`nodejs_external_memory_bytes\`. Medians of ${r.runs} runs, each with a fresh collector.

| | RSS | V8 heap used | external memory |
|---|---|---|---|
| idle | ${mib(r.idle)} | ${mib(r.heapIdle)} | ${mib(r.externalIdle)} |
| peak during the profiles | ${mib(r.peak)} | | |
| right after the second | ${mib(r.rightAfter)} | | |
| 10 s after | ${mib(r.after10)} | | |
| 30 s after | ${mib(r.after30)} (${pct(r.growth)} over idle: ${goal}) | ${mib(r.heapAfter)} | ${mib(r.externalAfter)} |
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(profileMemoryMarkdown(await benchProfileMemory()));
}
