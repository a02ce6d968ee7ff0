// Example user exporter: processes that lived less than 10 ms, by the command name of the
// parent that forked them. The built-in `process` exporter labels a process by its own comm;
// this one joins each exit (which carries the lifetime) with the fork that created the
// process (whose header is the parent), which no built-in does.
import {
  RecordType, Header, ProcessFork, ProcessExit, SeriesCache, Utf8, LOG_INFO,
  declareCounter, subscribe, series1, strnlen, counterAdd, flush, configValue, fail, log,
} from "../../sdk/assemblyscript/index";

export { bpfwasm_abi_version, bpfwasm_batch_buffer, bpfwasm_forget } from "../../sdk/assemblyscript/index";

const BAD_BATCH: i32 = 1;
const NS_PER_MS: f64 = 1e6;

// Forks seen, by child tgid: direct-mapped on the pid's low bits. Pids are handed out in
// sequence, so two live entries collide only after SLOTS more forks; by then the older one
// is far past any threshold and can be dropped. Fixed size, no allocation after init.
const SLOTS: u32 = 8192;
const forkTgid = new StaticArray<u32>(<i32>SLOTS);
const forkComm = new StaticArray<u64>(<i32>SLOTS * 2);

// Short exits whose fork has not arrived yet. The helper batches per record type, so when an
// exit batch fills up first it can overtake the batch holding the fork; that fork is then in
// the very next fork batch, after which a still unmatched exit is counted as parent "unknown".
const PENDING_MAX: u32 = 1024;
const pending = new StaticArray<u32>(<i32>PENDING_MAX);
let pendingCount: u32 = 0;

let thresholdNs: u64 = 10_000_000;
let shortLived: i32 = 0;
let unknown: Utf8 | null = null;
// Series ids by the parent comm's two words; "unknown" has the key (0, 0, 1), which no comm has.
const ids = new SeriesCache(1024);

export function bpfwasm_init(): i32 {
  // exporters.settings.short-lived.thresholdMs in the collector's config changes the 10 ms.
  const setting = configValue("thresholdMs");
  if (setting !== null) {
    const ms = parseFloat(setting);
    if (!(ms > 0 && ms <= 60_000)) fail("thresholdMs must be a number of milliseconds in (0, 60000], got " + setting);
    thresholdNs = <u64>(ms * NS_PER_MS);
  }
  shortLived = declareCounter("bpfwasm_example_short_lived_processes_total",
    "Processes that exited less than the threshold (10 ms by default) after they were forked, by the parent's command name",
    "parent_comm");
  unknown = new Utf8("unknown");
  subscribe(RecordType.PROCESS_FORK);
  subscribe(RecordType.PROCESS_EXIT);
  // A JSON object is logged as structured fields.
  log(LOG_INFO, '{"event":"short_lived_started","threshold_ns":' + thresholdNs.toString() + '}');
  return 0;
}

export function bpfwasm_on_batch(recordType: u32, ptr: usize, len: u32, count: u32): i32 {
  if (recordType == RecordType.PROCESS_FORK) {
    if (len != count * ProcessFork.SIZE) return BAD_BATCH;
    for (let i: u32 = 0; i < count; i++) onFork(ptr + i * ProcessFork.SIZE);
    settlePending();
  } else if (recordType == RecordType.PROCESS_EXIT) {
    if (len != count * ProcessExit.SIZE) return BAD_BATCH;
    for (let i: u32 = 0; i < count; i++) onExit(ptr + i * ProcessExit.SIZE);
  } else {
    return BAD_BATCH;
  }
  flush();
  return 0;
}

function onFork(rec: usize): void {
  const child = ProcessFork.childTgid(rec);
  if (child == Header.tgid(rec)) return; // a new thread, not a new process
  const slot = child & (SLOTS - 1);
  const comm = Header.comm(rec);
  unchecked(forkTgid[slot] = child);
  unchecked(forkComm[slot * 2] = load<u64>(comm));
  unchecked(forkComm[slot * 2 + 1] = load<u64>(comm, 8));
}

function onExit(rec: usize): void {
  const tgid = Header.tgid(rec);
  const isShort = ProcessExit.lifetimeNs(rec) < thresholdNs;
  if (take(tgid, isShort) || !isShort) return;
  if (pendingCount < PENDING_MAX) unchecked(pending[pendingCount++] = tgid);
  else counterAdd(unknownSeries(), 1);
}

/** Consumes the fork entry of `tgid` if there is one, counting it when `short`. */
function take(tgid: u32, isShort: bool): bool {
  const slot = tgid & (SLOTS - 1);
  if (tgid == 0 || unchecked(forkTgid[slot]) != tgid) return false;
  unchecked(forkTgid[slot] = 0);
  if (isShort) counterAdd(parentSeries(slot), 1);
  return true;
}

/** After a fork batch: exits waiting for it are counted under their parent, or as "unknown". */
function settlePending(): void {
  for (let i: u32 = 0; i < pendingCount; i++) {
    if (!take(unchecked(pending[i]), true)) counterAdd(unknownSeries(), 1);
  }
  pendingCount = 0;
}

function parentSeries(slot: u32): i32 {
  const c0 = unchecked(forkComm[slot * 2]);
  const c1 = unchecked(forkComm[slot * 2 + 1]);
  let sid = ids.get(c0, c1, 0);
  if (sid == SeriesCache.MISS) {
    // The comm words live in the table: point the host at them (NUL-padded, so strnlen works).
    const at = changetype<usize>(forkComm) + (<usize>slot << 4);
    sid = series1(shortLived, at, strnlen(at, 16));
    ids.set(c0, c1, 0, sid);
  }
  return sid;
}

function unknownSeries(): i32 {
  let sid = ids.get(0, 0, 1);
  if (sid == SeriesCache.MISS) {
    const u = unknown!;
    sid = series1(shortLived, u.ptr, u.len);
    ids.set(0, 0, 1, sid);
  }
  return sid;
}
