// The shape of a sensor's kernel-matrix case (ebpf/<sensor>/kernel-matrix.ts): the workload it
// runs in the VM (a shell line, $W is test/kernels/workload.c built for the VM's arch) and the
// exact records that workload must produce, checked on the helper's decoded frames. The VM is
// quiet, so counts are exact.
import { expect } from 'vitest';
import { StatKind } from '../../src/ingest/protocol.js';
import type { EventRecord, HelperFrames } from '../support/helper-run.js';

export type { EventRecord };

export interface SensorRun {
  frames: HelperFrames;
  /** Files the workload left in /out, by name. */
  out: (name: string) => string;
}

export interface SensorCase {
  sensor: string;
  workload: string;
  check(run: SensorRun): void;
}

/** The records of `type` that match `where`. */
export const of = (run: SensorRun, type: number, where: (r: EventRecord) => boolean = () => true) =>
  run.frames.records.filter((r) => r.type === type && where(r));
/** The sum of a numeric field over records. */
export const total = (records: EventRecord[], field: string) => records.reduce((n, r) => n + Number(r.fields[field]), 0);

/** What every sensor's run must also show: a clean stream, nothing dropped. */
export function checkStream(run: SensorRun): void {
  expect(run.frames.errors, 'protocol errors').toEqual([]);
  const last = run.frames.statsFrames.at(-1)?.stats ?? [];
  expect(last.filter((s) => s.kind === StatKind.RING_DROPS || s.kind === StatKind.MAP_FULL).reduce((n, s) => n + s.value, 0),
    'ring drops and full maps').toBe(0);
}
