// Kernel-matrix case (test/kernels/): N execs of a copy of the workload named bwexec, each forked by
// bwload and exiting 7.
// Run inside Debian's kernels under QEMU; the helper's records must show it exactly.
import { expect } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { of, type SensorCase } from '../../test/kernels/case.js';

const EXECS = 20;

export const matrixCase: SensorCase = {
  sensor: 'process',
  workload: `cp $W /tmp/bwexec && $W exec ${EXECS} /tmp/bwexec`,
  check(run) {
    const children = of(run, RecordType.process_exec, (r) => r.comm === 'bwexec');
    expect(children, 'process_exec of bwexec').toHaveLength(EXECS);
    const pids = new Set(children.map((r) => r.tgid));
    expect(of(run, RecordType.process_fork, (r) => r.comm === 'bwload' && pids.has(r.fields.child_tgid as number)),
      'process_fork by bwload of each bwexec').toHaveLength(EXECS);
    const exits = of(run, RecordType.process_exit, (r) => pids.has(r.tgid));
    expect(exits.map((r) => `${r.comm} ${r.fields.exit_code}/${r.fields.exit_signal}`), 'process_exit of each bwexec')
      .toEqual(Array(EXECS).fill('bwexec 7/0'));
  },
};
