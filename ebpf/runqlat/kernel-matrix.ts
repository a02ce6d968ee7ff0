// Kernel-matrix case (test/kernels/): a pipe ping-pong, two wakeups per round trip.
// Run inside Debian's kernels under QEMU; the helper's records must show it exactly.
import { expect } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { of, total, type SensorCase } from '../../test/kernels/case.js';

const PINGPONGS = 1000;

export const matrixCase: SensorCase = {
  sensor: 'runqlat',
  workload: `$W pingpong ${PINGPONGS}`,
  check(run) {
    // Each round trip wakes both ends once; kernel threads add switch-ins of their own, so the
    // exact figure is a lower bound here.
    const waits = total(of(run, RecordType.runqlat), 'count');
    expect(waits, 'run-queue waits').toBeGreaterThanOrEqual(2 * PINGPONGS);
  },
};
