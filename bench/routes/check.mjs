// Decodes a helper's frames captured inside a VM (bench/routes/run.sh) and checks them
// against the workload's known counts; prints a JSON summary (with each loaded program's
// run count and time) and exits 1 on a mismatch.
//   node bench/routes/check.mjs tcp FRAMES ROUTE CONNS SEND_BYTES REPLY_BYTES
//   node bench/routes/check.mjs oom FRAMES ROUTE KILLS MEMCG_ID LIMIT_PAGES
//   node bench/routes/check.mjs tcp-cost FRAMES ROUTE     (run counts and times only)
import { Stat, decodeFrames, expectations } from './frames.mjs';

/** Programs each route loads besides the sensor's fixed ones (ebpf/<name>/sensor.yaml). */
const ROUTES = {
  tcp: {
    fixed: ['handle_set_state', 'handle_destroy', 'handle_retransmit'],
    tp_btf: ['handle_send', 'handle_recv'],
    fentry: ['handle_send_fentry', 'handle_recv_fentry'],
    kprobe: ['handle_send_kprobe', 'handle_recv_kprobe'],
  },
  oom: { fixed: [], tp_btf: ['oom_victim'], fentry: ['oom_victim_fentry'], kprobe: ['oom_victim_kprobe'] },
};

const [mode, file, forced, ...expected] = process.argv.slice(2);
const sensor = mode === 'tcp-cost' ? 'tcp' : mode;
const { records, control, hello, last, runs } = decodeFrames(file);
const { failures, expect } = expectations();
const sum = (kind) => last.filter((s) => s.kind === kind).reduce((a, s) => a + s.value, 0);
// auto: whichever route's programs loaded.
const route = forced !== 'auto' ? forced
  : Object.keys(ROUTES[sensor]).find((r) => r !== 'fixed' && ROUTES[sensor][r].every((p) => p in runs)) ?? 'none';
expect('READY', control.some((c) => c.kind === 'ready'), true);
expect('programs loaded', Object.keys(runs).sort(), [...ROUTES[sensor].fixed, ...ROUTES[sensor][route]].sort());
expect('ring drops', sum(Stat.RING_DROPS), 0);
expect('full map inserts', sum(Stat.MAP_FULL), 0);

if (mode === 'tcp-cost') {
  // Programs only: the workload's own counts are not known here.
} else if (sensor === 'tcp') {
  const [conns, send, reply] = expected.map(Number);
  const mine = records.filter((r) => r.comm === 'rt-cli' || r.comm === 'rt-srv');
  const shape = (record, comm, direction) => mine.filter((r) => r.record === record && r.comm === comm && r.direction === direction);
  const serverPort = shape('tcp_open', 'rt-srv', 2)[0]?.local_port;
  expect('active opens (rt-cli)', shape('tcp_open', 'rt-cli', 1).length, conns);
  expect('passive opens (rt-srv)', shape('tcp_open', 'rt-srv', 2).length, conns);
  expect('active closes: acked/received', shape('tcp_close', 'rt-cli', 1).map((r) => `${r.bytes_acked}/${r.bytes_received}`), Array(conns).fill(`${send}/${reply}`));
  expect('passive closes: acked/received', shape('tcp_close', 'rt-srv', 2).map((r) => `${r.bytes_acked}/${r.bytes_received}`), Array(conns).fill(`${reply}/${send}`));
  expect('active peers', [...new Set(shape('tcp_open', 'rt-cli', 1).map((r) => r.remote_port))], [serverPort]);
  // Retransmits may happen (an emulated CPU is slow enough for a retransmission timeout).
  expect('other tcp records', mine.filter((r) => r.record !== 'tcp_retransmit').length, 4 * conns);
  expect('unattributed tcp records', records.filter((r) => r.record.startsWith('tcp_') && r.comm !== 'rt-cli' && r.comm !== 'rt-srv').length, 0);
} else {
  const [kills, memcgId, limitPages] = expected.map(Number);
  const victims = records.filter((r) => r.record === 'oom_kill');
  expect('oom_kill records', victims.length, kills);
  expect('victims', victims.map((r) => `${r.victim_comm} memcg ${r.memcg_id} limit ${r.limit_pages}`), Array(kills).fill(`rt-oom memcg ${memcgId} limit ${limitPages}`));
  expect('victims with rss', victims.filter((r) => r.rss_pages > 0 && r.total_vm_pages >= r.rss_pages).length, kills);
  expect('victim = its own tgid', victims.filter((r) => r.victim_tgid === r.victim_pid && r.victim_pid > 0).length, kills);
}

const retransmits = records.filter((r) => r.record === 'tcp_retransmit').length;
console.log(JSON.stringify({ sensor, forced, route, kernel: hello?.kernel, records: records.length, retransmits, runs, failures }));
process.exit(failures.length ? 1 : 0);
