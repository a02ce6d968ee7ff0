// Built-in exporter: OOM kills by victim command name and memory cgroup, and one structured
// warn log line per kill.
import {
  RecordType, Header, OomKill, SeriesCache, Utf8, EUTF8, Resolve, LOG_WARN, JsonLine,
  declareCounter, subscribe, series2, strnlen, asciiCopy, counterAdd, flush, batchBegin, resolveName, jsonEscape,
} from "../sdk/assemblyscript/index";

export { bpfwasm_abi_version, bpfwasm_batch_buffer, bpfwasm_forget } from "../sdk/assemblyscript/index";

const BAD_BATCH: i32 = 1;

// A system-wide OOM has no memory cgroup (memcg_id 0): it is the root's, whose limit is the
// machine, so it is labelled "/" like any other path. The root itself can never hit a memcg
// limit, so "/" is unambiguous, and memcg stays a path for every kill.
const GLOBAL_MEMCG = "/";

let kills: i32 = 0;
const killIds = new SeriesCache(1024);

export function bpfwasm_init(): i32 {
  kills = declareCounter("bpfwasm_oom_kills_total",
    "Tasks the OOM killer killed, by victim command name and the memory cgroup whose limit was hit " +
    "(\"/\" for a system-wide OOM, \"\" if the cgroup was gone before it could be named)", "comm,memcg");
  subscribe(RecordType.OOM_KILL);
  return 0;
}

export function bpfwasm_on_batch(recordType: u32, ptr: usize, len: u32, count: u32): i32 {
  batchBegin();
  if (recordType != RecordType.OOM_KILL || len != count * OomKill.SIZE) return BAD_BATCH;
  for (let i: u32 = 0; i < count; i++) onKill(ptr + i * OomKill.SIZE);
  flush();
  return 0;
}

function onKill(rec: usize): void {
  const comm = OomKill.victimComm(rec);
  const c0 = load<u64>(comm);
  const c1 = load<u64>(comm, 8);
  const memcg = OomKill.memcgId(rec);
  let sid = killIds.get(c0, c1, memcg);
  if (sid == SeriesCache.MISS) {
    const path = memcgNames.get(memcg);
    const len = strnlen(comm, 16);
    sid = series2(kills, comm, len, path.label.ptr, path.label.len);
    if (sid == EUTF8) sid = series2(kills, asciiCopy(comm, len), len, path.label.ptr, path.label.len);
    killIds.set(c0, c1, memcg, sid);
  }
  counterAdd(sid, 1);
  logKill(rec);
}

// ---- names of cgroup ids ----

/** A cgroup path as a label value and as JSON string content (escaped). */
class Name {
  constructor(readonly label: Utf8, readonly json: Utf8) {}
}

/**
 * Resolved names by cgroup id. A miss asks the host once (it allocates, like interning a
 * series); repeated kills in a cgroup allocate nothing. Cleared when full, as SeriesCache is.
 */
class NameCache {
  private names: Map<u64, Name> = new Map();

  constructor(private readonly kind: i32, private readonly zeroName: string, private readonly limit: i32) {}

  get(id: u64): Name {
    if (this.names.has(id)) return this.names.get(id);
    const resolved = id == 0 ? this.zeroName : resolveName(this.kind, id);
    const text = resolved !== null ? resolved : "";
    const label = new Utf8(text);
    const name = new Name(label, new Utf8(jsonEscape(text, NAME_CAP)));
    if (this.names.size >= this.limit) this.names.clear();
    this.names.set(id, name);
    return name;
  }
}

const memcgNames = new NameCache(Resolve.MEMCG_PATH, GLOBAL_MEMCG, 256);
// Cgroup v2 id 0 does not exist; "" like any unresolvable id.
const cgroupNames = new NameCache(Resolve.CGROUP_PATH, "", 256);

// ---- the log event, written into a static buffer without allocating ----

// The host keeps 4096 bytes of a log line; names are capped so the JSON always closes.
const LOG_BYTES: u32 = 4096;
const NAME_CAP: u32 = 1600;
const line = new JsonLine(LOG_BYTES);

/** A quoted, already escaped name (at most NAME_CAP bytes). */
function putName(name: Utf8): void {
  line.escaped(name.ptr, name.len);
}

function logKill(rec: usize): void {
  line.start();
  line.ascii("{\"event\":\"oom_kill\",\"pid\":");
  line.u64(OomKill.victimTgid(rec));
  line.ascii(",\"tid\":");
  line.u64(OomKill.victimPid(rec));
  line.ascii(",\"comm\":");
  line.cstring(OomKill.victimComm(rec), 16);
  line.ascii(",\"cgroup\":");
  putName(cgroupNames.get(OomKill.victimCgroupId(rec)).json);
  line.ascii(",\"memcg\":");
  putName(memcgNames.get(OomKill.memcgId(rec)).json);
  line.ascii(",\"memcg_id\":");
  line.u64(OomKill.memcgId(rec));
  line.ascii(",\"rss_pages\":");
  line.u64(OomKill.rssPages(rec));
  line.ascii(",\"total_vm_pages\":");
  line.u64(OomKill.totalVmPages(rec));
  line.ascii(",\"limit_pages\":");
  line.u64(OomKill.limitPages(rec));
  line.ascii(",\"oom_score_adj\":");
  line.i64(<i64>OomKill.oomScoreAdj(rec));
  line.ascii(",\"trigger_pid\":");
  line.u64(Header.tgid(rec));
  line.ascii(",\"trigger_comm\":");
  line.cstring(Header.comm(rec), 16);
  line.byte(0x7d);
  line.log(LOG_WARN);
}
