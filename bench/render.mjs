// Flamegraph rendering benchmark (issue: on-demand flamegraphs): 1M samples over 50k distinct
// stacks rendered to every format; the baseline is folded output, the simplest of them, in the
// same run. Run alone with `node bench/render.mjs`.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const dist = (p) => import(pathToFileURL(resolve(ROOT, 'dist/src', p)).href);

/** A deterministic profile: `stacks` distinct stacks, 3 to 32 frames deep, sharing a pool of names. */
function syntheticProfile(stacks, samples) {
  let seed = 42;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32); // imul: exact 32-bit LCG
  const names = Array.from({ length: 2000 }, (_, i) => `function_${i}`);
  const out = [];
  for (let i = 0; i < stacks; i++) {
    const pid = 100 + (i % 20);
    const frames = [{ name: `comm${pid}`, kind: 'process' }];
    const depth = 2 + Math.floor(random() * 30);
    for (let d = 0; d < depth; d++) {
      const name = names[Math.floor(random() * Math.min(names.length, 2 + 4 * d * d))];
      frames.push(d > depth - 4 ? { name: `k_${name}`, kind: 'kernel', module: '[kernel]' } : { name, kind: 'user', module: `lib${d % 5}.so` });
    }
    frames.push({ name: `leaf_${i}`, kind: 'user', module: 'app' });
    out.push({ pid, comm: `comm${pid}`, frames, count: Math.floor(samples / stacks) + (i < samples % stacks ? 1 : 0) });
  }
  return {
    id: 'bench', startedAt: 0, hz: 99, seconds: 10, filters: { kernel: true, user: true, idle: false },
    samples: out, totalSamples: samples, stackErrors: { kernelMissing: 0, userMissing: 0, collisions: 0, other: 0 }, warnings: [],
  };
}

export async function benchRender(log = console.error) {
  const { render } = await dist('profile/render/index.js');
  const profile = syntheticProfile(50_000, 1_000_000);
  const rows = [];
  for (const format of ['folded', 'json', 'svg', 'html', 'pprof']) {
    log(`render: ${format}`);
    const ms = [];
    let bytes = 0;
    for (let r = 0; r < RUNS; r++) {
      const t0 = process.hrtime.bigint();
      bytes = render(format, profile).body.length;
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    rows.push({ format, ms: median(ms), bytes });
  }
  return { runs: RUNS, rows };
}

export function renderMarkdown({ runs, rows }) {
  const base = rows.find((r) => r.format === 'folded').ms;
  const lines = rows.map((r) => `| ${r.format} | ${r.ms.toFixed(0)} ms | ${(r.ms / base).toFixed(2)}× | ${(r.bytes / 2 ** 20).toFixed(1)} MiB |`);
  return `## Flamegraphs: rendering 1M samples over 50k stacks

Command: \`npm run bench\` (section \`bench/render.mjs\`; alone: \`node bench/render.mjs\`). A synthetic
profile of 1M samples over 50k distinct stacks 3 to 32 frames deep, rendered from the symbolized
model to each format; the baseline is folded output in the same run. Medians of ${runs} runs.

| format | time | ratio to folded | size |
|---|---|---|---|
${lines.join('\n')}
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(renderMarkdown(await benchRender()));
}
