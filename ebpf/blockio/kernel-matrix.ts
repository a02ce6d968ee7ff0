// Kernel-matrix case (test/kernels/): N O_DIRECT 4096-byte writes to the blank disk /dev/vdb.
// Run inside Debian's kernels under QEMU; the helper's records must show it exactly.
import { expect } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { of, total, type SensorCase } from '../../test/kernels/case.js';

const WRITES = 32;

export const matrixCase: SensorCase = {
  sensor: 'blockio',
  workload: `stat -L -c '%t %T' /dev/vdb >/out/blockio.dev && $W odirect ${WRITES} /dev/vdb`,
  check(run) {
    const [major, minor] = run.out('blockio.dev').trim().split(' ').map((h) => parseInt(h, 16));
    const writes = of(run, RecordType.blockio_latency, (r) => r.fields.dev === ((major! << 20) | minor!) && r.fields.op === 2);
    expect({ requests: total(writes, 'count'), bytes: total(writes, 'bytes') }, 'writes to /dev/vdb')
      .toEqual({ requests: WRITES, bytes: WRITES * 4096 });
  },
};
