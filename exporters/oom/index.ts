// Built-in exporter: OOM kills by victim command name and memory cgroup, and one structured
// warn log line per kill.
import {
  RecordType, Header, OomKill, SeriesCache, Utf8, EUTF8, Resolve, LOG_WARN,
  declareCounter, subscribe, series2, strnlen, asciiCopy, counterAdd, flush, logBytes, resolveName,
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
    const name = new Name(label, new Utf8(jsonEscape(text)));
    if (this.names.size >= this.limit) this.names.clear();
    this.names.set(id, name);
    return name;
  }
}

const memcgNames = new NameCache(Resolve.MEMCG_PATH, GLOBAL_MEMCG, 256);
// Cgroup v2 id 0 does not exist; "" like any unresolvable id.
const cgroupNames = new NameCache(Resolve.CGROUP_PATH, "", 256);

/**
 * JSON string content for `s`, at most NAME_CAP UTF-8 bytes, cut between characters and
 * escapes so the log line always stays valid JSON (cold path: allocates).
 */
function jsonEscape(s: string): string {
  let out = "";
  let bytes: u32 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let piece: string;
    if (c == 0x22) piece = "\\\"";
    else if (c == 0x5c) piece = "\\\\";
    else if (c < 0x20) piece = "\\u00" + String.fromCharCode(hexDigit(c >> 4)) + String.fromCharCode(hexDigit(c & 15));
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) piece = s.substring(i, ++i + 1); // a surrogate pair: i moves past both
    else piece = String.fromCharCode(c);
    const n = <u32>String.UTF8.byteLength(piece);
    if (bytes + n > NAME_CAP) break;
    bytes += n;
    out += piece;
  }
  return out;
}

/** The ASCII code of a lowercase hex digit. */
function hexDigit(v: i32): i32 {
  return v < 10 ? 0x30 + v : 0x57 + v;
}

// ---- the log event, written into a static buffer without allocating ----

// The host keeps 4096 bytes of a log line; names are capped so the JSON always closes.
const LOG_BYTES: u32 = 4096;
const NAME_CAP: u32 = 1600;
const LINE = memory.data(<i32>LOG_BYTES);
let at: u32 = 0;

// @ts-ignore: decorator
@inline function put(b: u32): void {
  store<u8>(LINE + at, <u8>b);
  at++;
}

/** ASCII literal text (keys and punctuation). */
function putAscii(s: string): void {
  for (let i = 0; i < s.length; i++) put(<u32>s.charCodeAt(i));
}

function putU64(v: u64): void {
  const start = at;
  do {
    put(<u32>(v % 10) + 0x30);
    v /= 10;
  } while (v != 0);
  // Digits came out least significant first: reverse them in place.
  for (let i = start, j = at - 1; i < j; i++, j--) {
    const t = load<u8>(LINE + i);
    store<u8>(LINE + i, load<u8>(LINE + j));
    store<u8>(LINE + j, t);
  }
}

function putI64(v: i64): void {
  if (v < 0) {
    put(0x2d);
    putU64(<u64>(-v));
  } else {
    putU64(<u64>v);
  }
}

/** A quoted JSON string from the bytes of a NUL-padded kernel string (a comm). */
function putComm(ptr: usize): void {
  const n = strnlen(ptr, 16);
  put(0x22);
  for (let i: u32 = 0; i < n; i++) {
    const b = <u32>load<u8>(ptr + i);
    if (b == 0x22 || b == 0x5c) {
      put(0x5c);
      put(b);
    } else if (b < 0x20) {
      putAscii("\\u00");
      put(<u32>hexDigit(<i32>(b >> 4)));
      put(<u32>hexDigit(<i32>(b & 15)));
    } else {
      put(b); // bytes that are not UTF-8 become U+FFFD in the host, never break the JSON
    }
  }
  put(0x22);
}

/** A quoted, already escaped name (at most NAME_CAP bytes). */
function putName(name: Utf8): void {
  put(0x22);
  memory.copy(LINE + at, name.ptr, name.len);
  at += name.len;
  put(0x22);
}

function logKill(rec: usize): void {
  at = 0;
  putAscii("{\"event\":\"oom_kill\",\"pid\":");
  putU64(OomKill.victimTgid(rec));
  putAscii(",\"tid\":");
  putU64(OomKill.victimPid(rec));
  putAscii(",\"comm\":");
  putComm(OomKill.victimComm(rec));
  putAscii(",\"cgroup\":");
  putName(cgroupNames.get(OomKill.victimCgroupId(rec)).json);
  putAscii(",\"memcg\":");
  putName(memcgNames.get(OomKill.memcgId(rec)).json);
  putAscii(",\"memcg_id\":");
  putU64(OomKill.memcgId(rec));
  putAscii(",\"rss_pages\":");
  putU64(OomKill.rssPages(rec));
  putAscii(",\"total_vm_pages\":");
  putU64(OomKill.totalVmPages(rec));
  putAscii(",\"limit_pages\":");
  putU64(OomKill.limitPages(rec));
  putAscii(",\"oom_score_adj\":");
  putI64(<i64>OomKill.oomScoreAdj(rec));
  putAscii(",\"trigger_pid\":");
  putU64(Header.tgid(rec));
  putAscii(",\"trigger_comm\":");
  putComm(Header.comm(rec));
  put(0x7d);
  logBytes(LOG_WARN, LINE, at);
}
