// What each default sensor must see inside a matrix VM: the workload it runs there (a shell line,
// $W is test/kernels/workload.c built for the VM's arch) and the exact records that workload
// must produce, checked on the helper's decoded frames. The VM is quiet, so counts are exact.
import { expect } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { StatKind } from '../../src/ingest/protocol.js';
import type { EventRecord, HelperFrames } from '../support/helper-run.js';

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

const EXECS = 20;
const CONNECTIONS = 10;
const TCP_BYTES = 10_000;
const TCP_PORT = 7070;
const WRITES = 32;
const PINGPONGS = 1000;
const OOM_LIMIT = 16 << 20;
const ACTIVE = 1;
const PASSIVE = 2;

const of = (run: SensorRun, type: number, where: (r: EventRecord) => boolean = () => true) =>
  run.frames.records.filter((r) => r.type === type && where(r));
const total = (records: EventRecord[], field: string) => records.reduce((n, r) => n + Number(r.fields[field]), 0);

export const SENSOR_CASES: readonly SensorCase[] = [
  {
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
  },
  {
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
  },
  {
    sensor: 'blockio',
    workload: `stat -L -c '%t %T' /dev/vdb >/out/blockio.dev && $W odirect ${WRITES} /dev/vdb`,
    check(run) {
      const [major, minor] = run.out('blockio.dev').trim().split(' ').map((h) => parseInt(h, 16));
      const writes = of(run, RecordType.blockio_latency, (r) => r.fields.dev === ((major! << 20) | minor!) && r.fields.op === 2);
      expect({ requests: total(writes, 'count'), bytes: total(writes, 'bytes') }, 'writes to /dev/vdb')
        .toEqual({ requests: WRITES, bytes: WRITES * 4096 });
    },
  },
  {
    sensor: 'runqlat',
    workload: `$W pingpong ${PINGPONGS}`,
    check(run) {
      // Each round trip wakes both ends once; kernel threads add switch-ins of their own, so the
      // exact figure is a lower bound here.
      const waits = total(of(run, RecordType.runqlat), 'count');
      expect(waits, 'run-queue waits').toBeGreaterThanOrEqual(2 * PINGPONGS);
    },
  },
  {
    sensor: 'oom',
    workload: 'echo +memory >/sys/fs/cgroup/cgroup.subtree_control && mkdir /sys/fs/cgroup/bwoom'
      + ` && echo ${OOM_LIMIT} >/sys/fs/cgroup/bwoom/memory.max && cp $W /tmp/bwoom`
      + ` && sh -c 'echo $$ >/sys/fs/cgroup/bwoom/cgroup.procs && exec /tmp/bwoom oom'; cat /sys/fs/cgroup/bwoom/memory.events`,
    check(run) {
      const kills = of(run, RecordType.oom_kill);
      expect(kills.map((r) => ({ victim: r.fields.victim_comm, limitPages: Number(r.fields.limit_pages), memcg: r.fields.memcg_id !== 0n })),
        'oom_kill records').toEqual([{ victim: 'bwoom', limitPages: OOM_LIMIT / 4096, memcg: true }]);
    },
  },
];

/** What every sensor's run must also show: a clean stream, nothing dropped. */
export function checkStream(run: SensorRun): void {
  expect(run.frames.errors, 'protocol errors').toEqual([]);
  const last = run.frames.statsFrames.at(-1)?.stats ?? [];
  expect(last.filter((s) => s.kind === StatKind.RING_DROPS || s.kind === StatKind.MAP_FULL).reduce((n, s) => n + s.value, 0),
    'ring drops and full maps').toBe(0);
}
