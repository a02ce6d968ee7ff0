// Hostile modules for the time-isolation tests (issue #16, case 7), written with the tiny
// module builder, and a probe of the main thread's event-loop lag while they run.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Kind } from '../../src/exporters/abi.js';
import { abiModule, callImport, i32, OP, repeat } from './wasm-module.js';

const NAME_AT = 256;
const OPS_AT = 16 * 65536;
const OP_BYTES = 16;

/** In init: declares gauge `name` (no labels), interns its series (local id 0) and subscribes to `recordType`. */
function declareGauge(name: string, recordType: number): number[] {
  return [
    OP.i32Const, ...i32(Kind.GAUGE), OP.i32Const, ...i32(NAME_AT), OP.i32Const, ...i32(name.length),
    OP.i32Const, 0, OP.i32Const, 0, OP.i32Const, 0, OP.i32Const, 0, OP.i32Const, 0, OP.i32Const, 0,
    ...callImport('metric'),
    OP.i32Const, 0, OP.i32Const, 0, ...callImport('series'), OP.drop,
    OP.i32Const, ...i32(recordType), ...callImport('subscribe'),
  ];
}

/** Each batch calls `update` `calls` times with `opsPerCall` valid adds to its gauge `flood`. */
export function updateFlood(recordType: number, opsPerCall: number, calls: number): Uint8Array {
  const ops = new Uint8Array(opsPerCall * OP_BYTES);
  const view = new DataView(ops.buffer);
  for (let i = 0; i < opsPerCall; i++) {
    view.setUint32(i * OP_BYTES + 4, 1, true); // series 0, op ADD
    view.setFloat64(i * OP_BYTES + 8, 1, true);
  }
  return abiModule({
    memory: { min: 16 + Math.ceil(ops.length / 65536) },
    data: [{ offset: NAME_AT, bytes: new TextEncoder().encode('flood') }, { offset: OPS_AT, bytes: ops }],
    init: declareGauge('flood', recordType),
    locals: 1,
    onBatch: [...repeat(calls, [OP.i32Const, ...i32(OPS_AT), OP.i32Const, ...i32(opsPerCall), ...callImport('update'), OP.drop]), OP.i32Const, 0],
  });
}

/** Each batch calls `series` on a metric id that is not its own, `calls` times. */
export function foreignSeriesLoop(recordType: number, calls: number): Uint8Array {
  return abiModule({
    data: [{ offset: NAME_AT, bytes: new TextEncoder().encode('own') }],
    init: declareGauge('own', recordType),
    locals: 1,
    onBatch: [...repeat(calls, [OP.i32Const, ...i32(9999), OP.i32Const, 0, OP.i32Const, 0, ...callImport('series'), OP.drop]), OP.i32Const, 0],
  });
}

/** Each batch calls `resolve` on `calls` ids, a different one each time. */
export function resolveLoop(recordType: number, calls: number): Uint8Array {
  return abiModule({
    data: [{ offset: NAME_AT, bytes: new TextEncoder().encode('own') }],
    init: declareGauge('own', recordType),
    locals: 1,
    onBatch: [...repeat(calls, [
      OP.i32Const, 4, OP.localGet, 0, OP.i32Const, 0, OP.i32Const, ...i32(1024), OP.i32Const, ...i32(64), ...callImport('resolve'), OP.drop,
    ]), OP.i32Const, 0],
  });
}

/** Samples the main thread while hostile modules run: its worst event-loop stall and its busy time, in ms. */
export function lagProbe(): { stop(): { maxLagMs: number; busyMs: number } } {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const elu = performance.eventLoopUtilization();
  h.enable();
  return {
    stop() {
      h.disable();
      return { maxLagMs: h.max / 1e6, busyMs: performance.eventLoopUtilization(elu).active };
    },
  };
}
