// Batch call overhead of the exporter runtime, in ns per event, for an exporter that does
// nothing (bench/exporters/noop.c) and for the built-in process exporter, fed synthetic
// process_exec batches of 1, 64 and 1024 records:
//   main thread — the module instance and the store on one thread (the pre-worker design,
//                 kept as the baseline);
//   worker      — the shipped runtime: copy + postMessage to the exporter's worker, the call
//                 there, and the operations applied back on the main thread. "wall" is end to
//                 end; "main" is the main thread's busy time only (what the pipeline and the
//                 HTTP server pay), from event-loop utilisation.
// Run after `npm run build`: node bench/exporter-overhead.mjs
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { instantiate } from '../dist/src/exporters/instance.js';
import { loadExporter } from '../dist/src/exporters/runtime.js';
import { SeriesSink } from '../dist/src/exporters/sink.js';
import { SeriesStore } from '../dist/src/metrics/store.js';
import { BUILD_DIR, ROOT, buildC } from '../scripts/build-exporters.mjs';
import { machine } from './lib.mjs';

const EXEC = 2;
const RECORD = 56;
const EVENTS = 400_000;

function batch(n) {
  const b = new Uint8Array(RECORD * n);
  const v = new DataView(b.buffer);
  for (let i = 0; i < n; i++) {
    v.setUint16(i * RECORD, EXEC, true);
    v.setUint16(i * RECORD + 2, RECORD, true);
    b.set(new TextEncoder().encode(`comm${i % 50}`), i * RECORD + 32);
  }
  return b;
}

const newStore = () => new SeriesStore({ maxSeriesPerOwner: 10_000, maxLabelValueBytes: 128 });

async function mainThread(name, bytes, per) {
  const store = newStore();
  const link = {
    declare: (spec) => store.declare(name, spec),
    foreignMetric: () => ({ code: -6, why: '' }),
    resolve: () => undefined,
    log: () => {},
  };
  const sink = new SeriesSink(name, store);
  const inst = await instantiate(name, bytes, link, {
    limits: store.options, settings: {}, seed: sink.seed(), maxBatchBytes: 1 << 20, maxMemoryPages: 256,
  });
  sink.apply(inst.imports.takeFlush());
  const payload = batch(per);
  const run = (n) => {
    for (let i = 0; i < n; i++) {
      inst.runBatch(i + 1, EXEC, payload, per);
      sink.apply(inst.imports.takeFlush());
    }
  };
  run(Math.ceil(20_000 / per));
  const t0 = process.hrtime.bigint();
  run(EVENTS / per);
  return Number(process.hrtime.bigint() - t0) / EVENTS;
}

async function worker(name, bytes, per) {
  const store = newStore();
  const e = await loadExporter(name, bytes, {
    store, log: () => {}, maxBatchBytes: 1 << 20, limits: { queueBatches: 1 << 20, batchTimeoutMs: 60_000 },
  });
  const payload = batch(per);
  const run = async (n) => {
    for (let i = 0; i < n; i++) e.onBatch(EXEC, payload, per);
    await e.flush();
  };
  await run(Math.ceil(20_000 / per));
  const elu0 = performance.eventLoopUtilization();
  const t0 = process.hrtime.bigint();
  await run(EVENTS / per);
  const wall = Number(process.hrtime.bigint() - t0);
  const elu = performance.eventLoopUtilization(elu0);
  await e.close();
  // The synchronous dispatch loop runs inside one event-loop turn, so utilisation covers it too.
  return { wall: wall / EVENTS, main: (elu.utilization * wall) / EVENTS };
}

await buildC([join(ROOT, 'bench/exporters/noop.c')], '/tmp/bpfwasm-bench-noop.wasm');
const modules = [['noop', readFileSync('/tmp/bpfwasm-bench-noop.wasm')], ['process', readFileSync(join(BUILD_DIR, 'process.wasm'))]];
console.log(`exporter batch overhead, ns per event (${machine()})`);
console.log('exporter  batch  main-thread  worker-wall  worker-main');
for (const [name, bytes] of modules) {
  for (const per of [1, 64, 1024]) {
    const m = await mainThread(name, bytes, per);
    const w = await worker(name, bytes, per);
    console.log(`${name.padEnd(8)}  ${String(per).padStart(5)}  ${m.toFixed(1).padStart(11)}  ${w.wall.toFixed(1).padStart(11)}  ${w.main.toFixed(1).padStart(11)}`);
  }
}
