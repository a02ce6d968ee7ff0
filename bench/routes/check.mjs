// Decodes a helper's frames captured inside a VM (bench/routes/run.sh) and checks them
// against the workload's known counts; prints a JSON summary (with each loaded program's
// run count and time) and exits 1 on a mismatch.
//   node bench/routes/check.mjs tcp FRAMES ROUTE CONNS SEND_BYTES REPLY_BYTES
//   node bench/routes/check.mjs oom FRAMES ROUTE KILLS MEMCG_ID LIMIT_PAGES
//   node bench/routes/check.mjs tcp-cost FRAMES ROUTE     (run counts and times only)
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..', '..');
const load = (path) => import(pathToFileURL(join(ROOT, 'dist/src', path)).href);
const { FrameDecoder, parseStats } = await load('ingest/frame-decoder.js');
const { RECORDS, HEADER_FIELDS, RecordType } = await load('ingest/generated/events.js');
const { StatKind: Stat } = await load('ingest/protocol.js');

/** Programs each route loads besides the sensor's fixed ones (ebpf/helper/sensor_<name>.c). */
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
const layouts = new Map(RECORDS.map((r) => [r.id, r]));

function field(buf, f) {
  switch (f.type) {
    case 'u8': return buf.readUInt8(f.offset);
    case 'u16': return buf.readUInt16LE(f.offset);
    case 'u32': return buf.readUInt32LE(f.offset);
    case 's32': return buf.readInt32LE(f.offset);
    case 'u64': case 's64': return Number(buf.readBigUInt64LE(f.offset));
    case 'chars': { const b = buf.subarray(f.offset, f.offset + f.size); const nul = b.indexOf(0); return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1'); }
    default: return buf.subarray(f.offset, f.offset + f.size).toString('hex');
  }
}

const records = [];
const statsFrames = [];
const control = [];
const decoder = new FrameDecoder({
  events(type, payload, count) {
    const layout = layouts.get(type);
    for (let i = 0; i < count; i++) {
      const buf = Buffer.from(payload.subarray(i * layout.size, (i + 1) * layout.size));
      const r = {};
      for (const f of [...HEADER_FIELDS, ...layout.fields]) r[f.name] = field(buf, f);
      r.record = layout.name;
      records.push(r);
    }
  },
  stats: (payload, count) => statsFrames.push(parseStats(payload, count)),
  control: (kind, message) => control.push({ kind, message }),
});
decoder.push(readFileSync(file));
decoder.end();

const failures = [];
const expect = (what, actual, wanted) => {
  if (JSON.stringify(actual) !== JSON.stringify(wanted)) failures.push(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(wanted)}`);
};

const hello = control.find((c) => c.kind === 'hello')?.message;
const programs = hello?.sensors[0]?.programs ?? [];
const last = statsFrames.at(-1) ?? [];
const sum = (kind) => last.filter((s) => s.kind === kind).reduce((a, s) => a + s.value, 0);
const runs = Object.fromEntries(last.filter((s) => s.kind === Stat.PROG_RUN_COUNT).map((s) => {
  const ns = last.find((t) => t.kind === Stat.PROG_RUN_TIME_NS && t.index === s.index)?.value ?? 0;
  return [programs[s.index], { runs: s.value, ns, nsPerRun: s.value ? Math.round(ns / s.value) : null }];
}));
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
