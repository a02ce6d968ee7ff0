// /federate benchmark (issue: Prometheus endpoints done exactly): parse + select + serialize
// for regex selectors over 100k series, against serializing all of them in the same run.
// Run alone with `node bench/federate.mjs`.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));
const N = 100_000;
const METHODS = ['GET', 'PUT', 'POST', 'DELETE'];
const dist = (p) => import(pathToFileURL(resolve(ROOT, 'dist/src', p)).href);

export const SELECTORS = [
  ['a regex on a label, about 11% of the series', '{__name__="bench_requests_total",path=~"/api/v1/items/1.*"}'],
  ['a case-insensitive regex on a label, about 11%', '{path=~"(?i)/API/V1/ITEMS/9.*"}'],
  ['a negative regex on a label, 75%', 'bench_requests_total{method!~"GET"}'],
  ['a regex on the name, every series', '{__name__=~"bench_.+"}'],
];

async function timed(fn) {
  fn(); // warm-up
  const ms = [];
  let out;
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    out = fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(ms), out };
}

export async function benchFederate(log = console.error) {
  const { SeriesStore } = await dist('metrics/store.js');
  const { serializeText } = await dist('metrics/exposition.js');
  const { parseSelector } = await dist('metrics/selector.js');
  const { federationFilter } = await dist('metrics/federation.js');
  const store = new SeriesStore({ maxSeriesPerOwner: N, maxLabelValueBytes: 1024 });
  const fam = store.declare('bench', { name: 'bench_requests_total', help: 'Requests.', kind: 'counter', labelNames: ['method', 'path'] });
  for (let i = 0; i < N; i++) store.add(store.series(fam, [METHODS[i % 4], `/api/v1/items/${i}`]), i);
  const external = [['node', 'bench']];

  log(`federate: ${N} series, baseline: all of them`);
  const all = await timed(() => serializeText(store, { externalLabels: external }));
  const rows = [];
  for (const [what, selector] of SELECTORS) {
    log(`federate: ${selector}`);
    const r = await timed(() => serializeText(store, {
      include: federationFilter(store, [parseSelector(selector)]),
      externalLabels: external,
    }));
    const selected = r.out.toString().split('\n').filter((l) => l && !l.startsWith('#')).length;
    rows.push({ what, selector, ms: r.ms, selected });
  }
  return { runs: RUNS, n: N, allMs: all.ms, rows };
}

export function federateMarkdown({ runs, n, allMs, rows }) {
  const lines = rows.map((r) =>
    `| \`${r.selector}\` (${r.what}) | ${r.selected} | ${r.ms.toFixed(1)} ms | ${(r.ms / allMs).toFixed(2)}× |`);
  return `## Federation: regex selectors over ${n / 1000}k series

Command: \`npm run bench\` (section \`bench/federate.mjs\`; alone: \`node bench/federate.mjs\`). One family
of ${n / 1000}k two-label counters; each time covers parsing the selector, compiling its RE2 regexes,
selecting, and writing text 0.0.4 with an external label, as one \`/federate\` request does. The
baseline is writing all ${n / 1000}k series with no selection in the same run (${allMs.toFixed(1)} ms).
Medians of ${runs} runs after a warm-up.

| selector | series selected | time | ratio to writing all |
|---|---|---|---|
${lines.join('\n')}
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(federateMarkdown(await benchFederate()));
}
