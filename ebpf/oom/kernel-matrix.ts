// Kernel-matrix case (test/kernels/): one process killed by its memory cgroup's OOM killer.
// Run inside Debian's kernels under QEMU; the helper's records must show it exactly.
import { expect } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { of, type SensorCase } from '../../test/kernels/case.js';

const OOM_LIMIT = 16 << 20;

export const matrixCase: SensorCase = {
  sensor: 'oom',
  workload: 'echo +memory >/sys/fs/cgroup/cgroup.subtree_control && mkdir /sys/fs/cgroup/bwoom'
    + ` && echo ${OOM_LIMIT} >/sys/fs/cgroup/bwoom/memory.max && cp $W /tmp/bwoom`
    + ` && sh -c 'echo $$ >/sys/fs/cgroup/bwoom/cgroup.procs && exec /tmp/bwoom oom'; cat /sys/fs/cgroup/bwoom/memory.events`,
  check(run) {
    const kills = of(run, RecordType.oom_kill);
    expect(kills.map((r) => ({ victim: r.fields.victim_comm, limitPages: Number(r.fields.limit_pages), memcg: r.fields.memcg_id !== 0n })),
      'oom_kill records').toEqual([{ victim: 'bwoom', limitPages: OOM_LIMIT / 4096, memcg: true }]);
  },
};
