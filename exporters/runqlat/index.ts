// Built-in exporter: scheduler run-queue latency (runqlat aggregate records) as a histogram,
// for the whole node or per cgroup v2 path (config perCgroup).
import {
  RecordType, Runqlat, SeriesCache, Utf8, Resolve,
  declareHistogram, subscribe, series1, seriesN, log2SecondsBuckets, slotBucket,
  observeBucket, addSum, resolveName, configValue, flush, batchBegin,
} from "../sdk/assemblyscript/index";

export { bpfwasm_abi_version, bpfwasm_batch_buffer, bpfwasm_forget } from "../sdk/assemblyscript/index";

// Buckets 2^10 ns (1 us) .. 2^34 ns (17 s), one per log2 slot of the BPF side, then +Inf.
const LO_SLOT: u32 = 10;
const HI_SLOT: u32 = 34;
const NS_PER_SECOND: f64 = 1e9;
const BAD_BATCH: i32 = 1;

let latency: i32 = 0;
let perCgroup = false;
// The one node-wide series, in a cache so that bpfwasm_forget (series expiry) drops it too.
const nodeIds = new SeriesCache(8);
let batchSeq: u64 = 0;
// cgroup id -> series id of its path; resolved once, when the series is interned.
const cgroupIds = new SeriesCache(4096);
// (cgroup id, batch) -> series id labelled with the numeric id: an id the host could not name
// (a group younger than the host's last rescan, or already gone) is retried once per batch.
const unresolvedIds = new SeriesCache(1024);
const DIGITS = memory.data(24);

export function bpfwasm_init(): i32 {
  // Decided once: a metric's label set never changes while it runs.
  const setting = configValue("perCgroup");
  perCgroup = setting !== null && setting == "true";
  if (perCgroup) {
    latency = declareHistogram("bpfwasm_runqueue_latency_seconds",
      "Time tasks waited on a CPU run queue, from wakeup or preemption to running, by cgroup v2 path",
      "cgroup", log2SecondsBuckets(LO_SLOT, HI_SLOT));
  } else {
    latency = declareHistogram("bpfwasm_runqueue_latency_seconds",
      "Time tasks waited on a CPU run queue, from wakeup or preemption to running",
      "", log2SecondsBuckets(LO_SLOT, HI_SLOT));
  }
  subscribe(RecordType.RUNQLAT);
  return 0;
}

export function bpfwasm_on_batch(recordType: u32, ptr: usize, len: u32, count: u32): i32 {
  batchBegin();
  if (recordType != RecordType.RUNQLAT || len != count * Runqlat.SIZE) return BAD_BATCH;
  batchSeq++;
  for (let i: u32 = 0; i < count; i++) onRecord(ptr + i * Runqlat.SIZE);
  flush();
  return 0;
}

function onRecord(rec: usize): void {
  const n = Runqlat.count(rec);
  if (n == 0) return;
  // Without perCgroup every record is the node's, whatever its cgroup_id.
  const sid = perCgroup ? cgroupSeries(Runqlat.cgroupId(rec)) : nodeSeries();
  observeBucket(sid, slotBucket(Runqlat.slot(rec), LO_SLOT, HI_SLOT), <f64>n);
  addSum(sid, <f64>Runqlat.sumNs(rec) / NS_PER_SECOND);
}

function nodeSeries(): i32 {
  let sid = nodeIds.get(0, 0, 0);
  if (sid == SeriesCache.MISS) {
    sid = seriesN(latency, 0, 0);
    nodeIds.set(0, 0, 0, sid);
  }
  return sid;
}

/** The series of a cgroup: its path, or its numeric id while the host cannot name it. */
function cgroupSeries(id: u64): i32 {
  let sid = cgroupIds.get(id, 0, 0);
  if (sid != SeriesCache.MISS) return sid;
  sid = unresolvedIds.get(id, batchSeq, 0);
  if (sid != SeriesCache.MISS) return sid;
  const path = resolveName(Resolve.CGROUP_PATH, id);
  if (path !== null && path.length > 0) {
    const label = new Utf8(path); // allocates, but once per cgroup
    sid = series1(latency, label.ptr, label.len);
    cgroupIds.set(id, 0, 0, sid);
    return sid;
  }
  // No allocation here: this path may repeat every batch for as long as the id stays unnamed.
  sid = series1(latency, DIGITS, decimal(id, DIGITS));
  unresolvedIds.set(id, batchSeq, 0, sid);
  return sid;
}

/** Writes `n` in decimal at `out` (20 bytes suffice for a u64); returns the length. */
function decimal(n: u64, out: usize): u32 {
  let len: u32 = 0;
  let rest = n;
  do {
    len++;
    rest /= 10;
  } while (rest != 0);
  for (let i = len; i > 0; i--) {
    store<u8>(out + i - 1, <u8>(0x30 + n % 10));
    n /= 10;
  }
  return len;
}
