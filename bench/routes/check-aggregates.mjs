// Decodes a helper's frames captured inside a VM (bench/routes/aggregates.sh) and checks
// the blockio, runqlat or syscalls aggregates against the workload's known counts; prints a
// JSON summary (with each loaded program's BPF time per run) and exits 1 on a mismatch.
//   node bench/routes/check-aggregates.mjs SENSOR FRAMES ROUTE COUNT BLOCK VDB_DEV RQ_CGROUP [LOAD]
import { Stat, decodeFrames, expectations } from './frames.mjs';

/** Programs each route loads (ebpf/<name>/sensor.yaml); syscalls has one set. */
const ROUTES = {
  blockio: {
    tp_btf: ['blk_rq_issue', 'blk_rq_complete', 'blk_rq_requeue'],
    raw_tp: ['blk_rq_issue_raw', 'blk_rq_complete_raw', 'blk_rq_requeue_raw'],
  },
  runqlat: {
    task_storage: ['handle_wakeup', 'handle_wakeup_new', 'handle_switch'],
    pid_hash: ['handle_wakeup_pid', 'handle_wakeup_new_pid', 'handle_switch_pid'],
  },
  syscalls: { auto: ['sys_enter', 'sys_exit', 'thread_exit', 'exec_moved'] },
};
const NR_GETPPID = 110;
const NR_CLOSE = 3;
const EBADF = 9;

const [sensor, file, forced, countText, blockText, vdbDev, rqCgroup, loadOutput] = process.argv.slice(2);
const count = Number(countText);
const block = Number(blockText);
const { records, control, hello, last, runs } = decodeFrames(file);
const { failures, expect } = expectations();
const sumOf = (rs, key) => rs.reduce((a, r) => a + r[key], 0);

const ready = control.find((c) => c.kind === 'ready')?.message;
const stat = (kind) => last.filter((s) => s.kind === kind).reduce((a, s) => a + s.value, 0);
// A forced route this kernel lacks leaves the sensor off with the reason: a result, not a failure.
const refused = ready?.failed?.find((f) => f.name === sensor && f.step === 'find a usable route');
if (refused && forced !== 'auto') {
  console.log(JSON.stringify({ sensor, forced, unavailable: refused.error }));
  process.exit(0);
}
const route = ready?.routes?.[sensor] ?? 'auto';
if (forced !== 'auto') expect('route', route, forced);
expect('programs loaded', Object.keys(runs).sort(), [...ROUTES[sensor][route] ?? []].sort());
expect('ring drops', stat(Stat.RING_DROPS), 0);
expect('full map inserts', stat(Stat.MAP_FULL), 0);

const summary = { sensor, forced, route, kernel: hello?.kernel, runs };
if (sensor === 'blockio') {
  const [major, minor] = vdbDev.split(':').map(Number);
  const mine = records.filter((r) => r.record === 'blockio_latency' && r.dev === ((major << 20) | minor));
  const op = (o) => mine.filter((r) => r.op === o);
  summary.vdb = { writes: sumOf(op(2), 'count'), writeBytes: sumOf(op(2), 'bytes'), reads: sumOf(op(1), 'count'), readBytes: sumOf(op(1), 'bytes') };
  expect('vdb writes/bytes', [summary.vdb.writes, summary.vdb.writeBytes], [count, count * block]);
  expect('vdb reads/bytes', [summary.vdb.reads, summary.vdb.readBytes], [count, count * block]);
  expect('vdb other operations', mine.filter((r) => r.op !== 1 && r.op !== 2).length, 0);
} else if (sensor === 'runqlat') {
  const mine = records.filter((r) => r.record === 'runqlat' && r.cgroup_id === Number(rqCgroup));
  summary.pingpong = { roundTrips: count, waits: sumOf(mine, 'count'), nsPerRoundTrip: loadOutput };
  // Each round trip is two wakeups, each ending in one switch-in: 2 waits, exactly. Beyond
  // those, the fork and exit and a timer tick's preemption of either task (Debian: HZ 250)
  // add at most 2 per tick of the run's wall time (pingpong prints ns per round trip).
  const wallS = (Number(loadOutput?.split(' ')[0]) * count) / 1e9;
  const most = Math.ceil(2 * count + 2 * 250 * wallS + 20);
  summary.pingpong.most = most;
  if (summary.pingpong.waits < 2 * count || summary.pingpong.waits > most) {
    failures.push(`waits in the pingpong cgroup: got ${summary.pingpong.waits}, want 2 x ${count} up to ${most}`);
  }
} else {
  const mine = records.filter((r) => r.record === 'syscall_latency');
  const errors = records.filter((r) => r.record === 'syscall_error');
  summary.sysload = {
    getppid: sumOf(mine.filter((r) => r.nr === NR_GETPPID), 'count'),
    close: sumOf(mine.filter((r) => r.nr === NR_CLOSE), 'count'),
    closeEbadf: sumOf(errors.filter((r) => r.nr === NR_CLOSE && r.error === EBADF), 'count'),
  };
  expect('getppid/close/close EBADF', Object.values(summary.sysload), [count, count, count]);
}
summary.ok = failures.length === 0;
console.log(JSON.stringify(summary));
for (const f of failures) console.error(`${sensor} ${forced}: ${f}`);
process.exit(failures.length ? 1 : 0);
