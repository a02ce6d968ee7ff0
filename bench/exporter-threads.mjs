// Exporters sharing threads (issue #17): the collector's RSS per loaded exporter and the main
// thread's CPU per batch handed to one, with 20 copies of the process exporter loaded at once,
// against the same figures for one exporter alone, measured in the same run. Standalone:
// `node bench/exporter-threads.mjs` prints the rows as JSON.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, sleep } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = 3;
const ROUNDS = 1000;
const EXIT = 3; // process_exit, 72 bytes: counted by the process exporter (comm, outcome, lifetime)

async function once(count) {
  const dist = (p) => import(join(ROOT, 'dist/src', p));
  const { loadExporter } = await dist('exporters/host/runtime.js');
  const { SeriesStore } = await dist('metrics/store.js');
  const { encodeBatch } = await dist('testing/index.js');
  const bytes = readFileSync(join(ROOT, 'exporters/build/process.wasm'));
  // One store per exporter: the copies declare the same metric names.
  const host = () => ({
    store: new SeriesStore({ maxSeries: 100_000, maxSeriesPerOwner: 10_000, maxLabelValueBytes: 256 }),
    log() {}, maxBatchBytes: 1 << 20, limits: { queueBatches: 4096 },
  });
  await sleep(500);
  const rss0 = process.memoryUsage().rss;
  const list = [];
  for (let i = 0; i < count; i++) list.push(await loadExporter(`p${i}`, bytes, host()));
  const batch = encodeBatch(EXIT, Array.from({ length: 64 }, (_, i) => ({ comm: `c${i % 8}` })));
  for (let r = 0; r < 50; r++) {
    for (const e of list) e.onBatch(EXIT, batch, 64);
    await sleep(2);
  }
  await Promise.all(list.map((e) => e.flush()));
  await sleep(1000);
  const rssPerExporter = (process.memoryUsage().rss - rss0) / count;
  const c0 = process.cpuUsage();
  for (let r = 0; r < ROUNDS; r++) {
    for (const e of list) e.onBatch(EXIT, batch, 64);
    if (r % 10 === 9) await sleep(1);
  }
  await Promise.all(list.map((e) => e.flush()));
  const c = process.cpuUsage(c0);
  // The sleeps' own cost is the same for both counts; it is spread over more batches with 20.
  const cpuPerBatchUs = (c.user + c.system) / (ROUNDS * count);
  await Promise.all(list.map((e) => e.close()));
  return { rssPerExporter, cpuPerBatchUs };
}

/** Each count in a fresh process, so one's heap does not carry into the other's RSS. */
async function inChild(count) {
  const { execFileSync } = await import('node:child_process');
  return JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--once', String(count)], { encoding: 'utf8' }));
}

export async function benchExporterThreads(log = console.error) {
  const rows = { one: [], twenty: [] };
  for (let i = 0; i < RUNS; i++) {
    rows.one.push(await inChild(1));
    rows.twenty.push(await inChild(20));
    log(`exporter threads run ${i + 1}/${RUNS}: ${JSON.stringify(rows.twenty.at(-1))}`);
  }
  const m = (rs, k) => median(rs.map((r) => r[k]));
  return {
    runs: RUNS,
    one: { rssPerExporter: m(rows.one, 'rssPerExporter'), cpuPerBatchUs: m(rows.one, 'cpuPerBatchUs') },
    twenty: { rssPerExporter: m(rows.twenty, 'rssPerExporter'), cpuPerBatchUs: m(rows.twenty, 'cpuPerBatchUs') },
  };
}

export function exporterThreadsMarkdown({ runs, one, twenty }) {
  const mib = (b) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const goal = twenty.rssPerExporter < 2e6 ? 'goal < 2 MB met' : '**goal < 2 MB not met**';
  return `## Exporters sharing threads

Command: \`node bench/exporter-threads.mjs\` (section of \`npm run bench\`). Copies of the process
exporter loaded at once, each with its own store, all on the default one exporter thread
(\`exporters.threads\`); ${ROUNDS} rounds of one 64-record exec batch to each; medians of ${runs} runs,
each count in a fresh process. Design and the figures before it: \`src/exporters/README.md\`.

| figure | 20 exporters | baseline: 1 exporter alone |
|---|---|---|
| process RSS per loaded exporter | ${mib(twenty.rssPerExporter)} (${goal}) | ${mib(one.rssPerExporter)} |
| main-thread CPU per batch handed to an exporter (ring write, results, store updates) | ${twenty.cpuPerBatchUs.toFixed(1)} µs | ${one.cpuPerBatchUs.toFixed(1)} µs |
`;
}

if (process.argv[2] === '--once') {
  console.log(JSON.stringify(await once(Number(process.argv[3]))));
  process.exit(0);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await benchExporterThreads()));
}
