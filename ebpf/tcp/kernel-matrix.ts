// Kernel-matrix case (test/kernels/): N loopback connections, each side sending a known number of bytes.
// Run inside Debian's kernels under QEMU; the helper's records must show it exactly.
import { expect } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { of, type EventRecord, type SensorCase } from '../../test/kernels/case.js';

const CONNECTIONS = 10;
const TCP_BYTES = 10_000;
const TCP_PORT = 7070;
const ACTIVE = 1;
const PASSIVE = 2;

export const matrixCase: SensorCase = {
  sensor: 'tcp',
  workload: `$W tcp ${CONNECTIONS} ${TCP_BYTES} ${TCP_PORT}`,
  check(run) {
    const ends = (type: number) => of(run, type, (r) => r.comm === 'bwload'
      && (r.fields.direction === ACTIVE ? r.fields.remote_port : r.fields.local_port) === TCP_PORT);
    const directions = (rs: EventRecord[]) => rs.map((r) => r.fields.direction).sort();
    const both = [...Array(CONNECTIONS).fill(ACTIVE), ...Array(CONNECTIONS).fill(PASSIVE)];
    expect(directions(ends(RecordType.tcp_open)), 'tcp_open directions').toEqual(both);
    const closes = ends(RecordType.tcp_close);
    expect(directions(closes), 'tcp_close directions').toEqual(both);
    expect(closes.map((r) => Number(r.fields.bytes_received)), 'bytes received at each close')
      .toEqual(Array(2 * CONNECTIONS).fill(TCP_BYTES));
  },
};
