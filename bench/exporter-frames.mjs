// The exporter path alone, per helper frame (issue #17): the bench exporter fed one 500-record
// batch every 5 ms (the frames of 100k events/s) for 2000 frames, and per frame the CPU
// (schedstat) and the wake-ups (voluntary context switches) of the main thread and of all
// threads. No helper, kernel or driver in the loop, so it shows the runtime's own cost with
// less noise than bench/throughput.mjs. Standalone: `node bench/exporter-frames.mjs [root]`
// (root: a built tree, default this one) prints the figures as JSON.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sleep } from './lib.mjs';

const ROOT = resolve(process.argv[2] ?? join(import.meta.dirname, '..'));
const FRAMES = 2000;
const RECORDS = 500;
const BENCH_SYSCALL = 18; // the bench sensor's record, counted by exporters/bench

/** CPU ns and voluntary switches of each thread of this process. */
function threads() {
  const out = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    out.set(tid, {
      wakes: Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)[1]),
      ns: Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]),
    });
  }
  return out;
}

const dist = (p) => import(join(ROOT, 'dist/src', p));
const { loadExporter } = await dist('exporters/host/runtime.js');
const { SeriesStore } = await dist('metrics/store.js');
const { encodeBatch } = await dist('testing/index.js');
const host = {
  store: new SeriesStore({ maxSeries: 100_000, maxSeriesPerOwner: 10_000, maxLabelValueBytes: 256 }),
  log() {}, maxBatchBytes: 1 << 20, limits: { queueBatches: 4096 },
};
const e = await loadExporter('bench', readFileSync(join(ROOT, 'exporters/build/bench.wasm')), host);
const batch = encodeBatch(BENCH_SYSCALL, Array.from({ length: RECORDS }, () => ({})));
const frames = async (n) => {
  for (let i = 0; i < n; i++) {
    e.onBatch(BENCH_SYSCALL, batch, RECORDS);
    await sleep(5);
  }
  await e.flush();
};
await frames(50); // warm-up
const before = threads();
await frames(FRAMES);
const after = threads();
const main = String(process.pid);
let all = { ns: 0, wakes: 0 };
let own = { ns: 0, wakes: 0 };
for (const [tid, t] of after) {
  const t0 = before.get(tid) ?? { ns: 0, wakes: 0 };
  const d = { ns: t.ns - t0.ns, wakes: t.wakes - t0.wakes };
  all = { ns: all.ns + d.ns, wakes: all.wakes + d.wakes };
  if (tid === main) own = d;
}
const per = (v) => Math.round((v / FRAMES) * 100) / 100;
console.log(JSON.stringify({
  frames: FRAMES, events: e.events, expected: (50 + FRAMES) * RECORDS,
  mainUsPerFrame: per(own.ns / 1000), mainWakeupsPerFrame: per(own.wakes),
  allUsPerFrame: per(all.ns / 1000), allWakeupsPerFrame: per(all.wakes),
}));
await e.close();
process.exit(0);
