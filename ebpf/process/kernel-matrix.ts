// Kernel-matrix case (test/kernels/): N execs of a copy of the workload named bwexec, each forked by
// bwload and exiting 7.
// Run inside Debian's kernels under QEMU; the helper's records must show it exactly.
import { expect } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { execArgs } from '../../src/ingest/exec-args.js';
import { of, type SensorCase } from '../../test/kernels/case.js';

const EXECS = 20;

export const matrixCase: SensorCase = {
  sensor: 'process',
  workload: `cp $W /tmp/bwexec && $W exec ${EXECS} /tmp/bwexec`,
  check(run) {
    const children = of(run, RecordType.process_exec, (r) => r.comm === 'bwexec');
    expect(children, 'process_exec of bwexec').toHaveLength(EXECS);
    // execl("/tmp/bwexec", "bwexec", "exit7") as root: the filename and argv read from the new stack.
    expect(children.map((r) => ({
      filename: r.fields.filename, uid: r.fields.uid, argc: r.fields.argc,
      ...execArgs(r.buf, new DataView(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength), 0),
    })), 'process_exec filename, uid and argv').toEqual(Array(EXECS).fill({
      filename: '/tmp/bwexec', uid: 0, argc: 2, args: ['bwexec', 'exit7'], lost: 0,
    }));
    const pids = new Set(children.map((r) => r.tgid));
    expect(of(run, RecordType.process_fork, (r) => r.comm === 'bwload' && pids.has(r.fields.child_tgid as number)),
      'process_fork by bwload of each bwexec').toHaveLength(EXECS);
    const exits = of(run, RecordType.process_exit, (r) => pids.has(r.tgid));
    expect(exits.map((r) => `${r.comm} ${r.fields.exit_code}/${r.fields.exit_signal}`), 'process_exit of each bwexec')
      .toEqual(Array(EXECS).fill('bwexec 7/0'));
  },
};
