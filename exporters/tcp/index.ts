// Built-in exporter of the tcp sensor: connections opened and closed, their durations and
// bytes, and retransmits, by direction, command and port (and addresses when configured).
//
// Cardinality: the ephemeral side's port (local for an active connect, remote for an accepted
// connection) is reported as "ephemeral" unless the config says `ephemeralPorts: keep`, and the
// address labels exist only with `ipLabels: true`. Both are read once in init, so every metric's
// label set is fixed for the module's life.
import {
  RecordType, Header, TcpOpen, TcpClose, TcpRetransmit, EUTF8, declareCounter, declareHistogram,
  subscribe, seriesN, strnlen, asciiCopy, counterAdd, observe, flush, batchBegin, configValue, Utf8,
} from "../sdk/assemblyscript/index";

export { bpfwasm_abi_version, bpfwasm_batch_buffer } from "../sdk/assemblyscript/index";
import { bpfwasm_forget as sdkForget } from "../sdk/assemblyscript/index";

const DURATION_BUCKETS: StaticArray<f64> = [
  0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600, 86400,
];

const ACTIVE: u32 = 1;
const PASSIVE: u32 = 2;
const AF_INET6: u32 = 10;
const NS_PER_SECOND: f64 = 1e9;
const BAD_BATCH: i32 = 1;
// A port label value that is not a number: the ephemeral side, collapsed.
const EPHEMERAL_CODE: u32 = 0x10000;

// Settings, fixed at init.
let ipLabels = false;
let keepEphemeral = false;

// Metric ids.
let opened: i32 = 0;
let closed: i32 = 0;
let duration: i32 = 0;
let received: i32 = 0;
let sent: i32 = 0;
let retransmits: i32 = 0;

// Label value constants.
let DIRECTIONS: StaticArray<Utf8> = [];
let EPHEMERAL: Utf8 = changetype<Utf8>(0);
let UNKNOWN_COMM: Utf8 = changetype<Utf8>(0);

// Local ports seen on accepted connections (listening ports): a retransmit record has no
// direction, so a socket whose local port listens is taken as passive, any other as active.
const listening = new StaticArray<u8>(65536);

// ---- an exact series cache keyed by the whole label set (up to 8 words) ----

const KEY_WORDS: i32 = 8;
// Ids per label set: opened, closed, received bytes, sent bytes (interned lazily).
const IDS_PER_KEY: i32 = 4;
const MISS: i32 = i32.MIN_VALUE;

/** Open addressing over fixed arrays; cleared (never grown) at 3/4, as the SDK's SeriesCache. */
class LabelCache {
  private readonly keys: StaticArray<u64>;
  private readonly ids: StaticArray<i32>;
  private readonly used: StaticArray<u8>;
  private readonly mask: u32;
  private readonly limit: u32;
  private size: u32 = 0;

  constructor(capacity: u32) {
    this.keys = new StaticArray<u64>(<i32>capacity * KEY_WORDS);
    this.ids = new StaticArray<i32>(<i32>capacity * IDS_PER_KEY);
    this.used = new StaticArray<u8>(<i32>capacity);
    this.mask = capacity - 1;
    this.limit = capacity - (capacity >> 2);
  }

  /** The slot of `key` (KEY_WORDS words at `key`), inserted with every id MISS if absent. */
  slot(key: usize): i32 {
    let h: u64 = 0;
    for (let w = 0; w < KEY_WORDS; w++) h = (h ^ load<u64>(key + (<usize>w << 3))) * 0x9e3779b97f4a7c15;
    let i = <u32>(h ^ (h >> 32)) & this.mask;
    while (unchecked(this.used[i])) {
      if (this.matches(i, key)) return <i32>i;
      i = (i + 1) & this.mask;
    }
    if (this.size >= this.limit) {
      this.clear();
      i = <u32>(h ^ (h >> 32)) & this.mask;
    }
    memory.copy(changetype<usize>(this.keys) + (<usize>i * KEY_WORDS << 3), key, KEY_WORDS << 3);
    for (let k = 0; k < IDS_PER_KEY; k++) unchecked(this.ids[<i32>i * IDS_PER_KEY + k] = MISS);
    unchecked(this.used[i] = 1);
    this.size++;
    return <i32>i;
  }

  id(slot: i32, which: i32): i32 {
    return unchecked(this.ids[slot * IDS_PER_KEY + which]);
  }

  setId(slot: i32, which: i32, id: i32): void {
    unchecked(this.ids[slot * IDS_PER_KEY + which] = id);
  }

  clear(): void {
    memory.fill(changetype<usize>(this.used), 0, <usize>this.used.length);
    this.size = 0;
  }

  private matches(i: u32, key: usize): bool {
    const at = changetype<usize>(this.keys) + (<usize>i * KEY_WORDS << 3);
    for (let w = 0; w < KEY_WORDS; w++) {
      if (load<u64>(at + (<usize>w << 3)) != load<u64>(key + (<usize>w << 3))) return false;
    }
    return true;
  }
}

const connections = new LabelCache(8192); // opened, closed, received, sent
const durations = new LabelCache(4096);   // the histogram: no address labels
const retransmitIds = new LabelCache(4096);

/** The host is about to reuse idle series ids: drop every cached id, ours and the SDK's. */
export function bpfwasm_forget(idsPtr: usize, count: u32): void {
  sdkForget(idsPtr, count);
  connections.clear();
  durations.clear();
  retransmitIds.clear();
}

export function bpfwasm_init(): i32 {
  const ip = configValue("ipLabels");
  const eph = configValue("ephemeralPorts");
  ipLabels = ip !== null && ip == "true";
  keepEphemeral = eph !== null && eph == "keep";

  const conn = ipLabels ? "direction,comm,local_port,remote_port,local_addr,remote_addr"
    : "direction,comm,local_port,remote_port";
  const retrans = ipLabels ? "comm,local_port,remote_port,local_addr,remote_addr" : "comm,local_port,remote_port";
  opened = declareCounter("bpfwasm_tcp_connections_opened_total",
    "TCP connections established, by direction (active: connect, passive: accept), owning command and ports", conn);
  closed = declareCounter("bpfwasm_tcp_connections_closed_total",
    "TCP connections closed among those counted as opened, by direction, owning command and ports", conn);
  received = declareCounter("bpfwasm_tcp_received_bytes_total",
    "Payload bytes received on closed TCP connections", conn);
  sent = declareCounter("bpfwasm_tcp_sent_bytes_total",
    "Payload bytes sent and acknowledged on closed TCP connections", conn);
  duration = declareHistogram("bpfwasm_tcp_connection_duration_seconds",
    "Time from the handshake's completion to the close, by direction, owning command and ports",
    "direction,comm,local_port,remote_port", DURATION_BUCKETS);
  retransmits = declareCounter("bpfwasm_tcp_retransmits_total",
    "TCP segments retransmitted, by owning command and ports", retrans);

  DIRECTIONS = [new Utf8("unknown"), new Utf8("active"), new Utf8("passive")];
  EPHEMERAL = new Utf8("ephemeral");
  UNKNOWN_COMM = new Utf8("unknown");
  subscribe(RecordType.TCP_OPEN);
  subscribe(RecordType.TCP_CLOSE);
  subscribe(RecordType.TCP_RETRANSMIT);
  return 0;
}

export function bpfwasm_on_batch(recordType: u32, ptr: usize, len: u32, count: u32): i32 {
  batchBegin();
  if (recordType == RecordType.TCP_OPEN) {
    if (len != count * TcpOpen.SIZE) return BAD_BATCH;
    for (let i: u32 = 0; i < count; i++) onOpen(ptr + i * TcpOpen.SIZE);
  } else if (recordType == RecordType.TCP_CLOSE) {
    if (len != count * TcpClose.SIZE) return BAD_BATCH;
    for (let i: u32 = 0; i < count; i++) onClose(ptr + i * TcpClose.SIZE);
  } else if (recordType == RecordType.TCP_RETRANSMIT) {
    if (len != count * TcpRetransmit.SIZE) return BAD_BATCH;
    for (let i: u32 = 0; i < count; i++) onRetransmit(ptr + i * TcpRetransmit.SIZE);
  } else {
    return BAD_BATCH;
  }
  flush();
  return 0;
}

function onOpen(rec: usize): void {
  const direction = <u32>TcpOpen.direction(rec);
  if (direction == PASSIVE) unchecked(listening[TcpOpen.localPort(rec)] = 1);
  const slot = buildKey(rec, direction, ipLabels, connections);
  counterAdd(seriesFor(connections, slot, 0, opened, rec, direction, ipLabels), 1);
}

function onClose(rec: usize): void {
  const direction = <u32>TcpClose.direction(rec);
  const slot = buildKey(rec, direction, ipLabels, connections);
  counterAdd(seriesFor(connections, slot, 1, closed, rec, direction, ipLabels), 1);
  counterAdd(seriesFor(connections, slot, 2, received, rec, direction, ipLabels), <f64>TcpClose.bytesReceived(rec));
  counterAdd(seriesFor(connections, slot, 3, sent, rec, direction, ipLabels), <f64>TcpClose.bytesAcked(rec));
  const hslot = buildKey(rec, direction, false, durations);
  observe(seriesFor(durations, hslot, 0, duration, rec, direction, false), <f64>TcpClose.durationNs(rec) / NS_PER_SECOND);
}

function onRetransmit(rec: usize): void {
  // No direction in the record: a socket on a listening port was accepted.
  const direction = unchecked(listening[TcpRetransmit.localPort(rec)]) ? PASSIVE : ACTIVE;
  const slot = buildKey(rec, direction, ipLabels, retransmitIds);
  counterAdd(seriesFor(retransmitIds, slot, 0, retransmits, rec, direction, ipLabels), 1);
}

// ---- label sets ----

const KEY = memory.data(KEY_WORDS << 3, 8);

/** Port label codes: the port, or EPHEMERAL_CODE for the collapsed ephemeral side. */
function localCode(rec: usize, direction: u32): u32 {
  return direction == ACTIVE && !keepEphemeral ? EPHEMERAL_CODE : <u32>TcpOpen.localPort(rec);
}

function remoteCode(rec: usize, direction: u32): u32 {
  return direction == PASSIVE && !keepEphemeral ? EPHEMERAL_CODE : <u32>TcpOpen.remotePort(rec);
}

/** Fills KEY with every label of the record (the three tcp records share the layout) and
 *  returns its slot in `cache`. */
function buildKey(rec: usize, direction: u32, withAddrs: bool, cache: LabelCache): i32 {
  const comm = Header.comm(rec);
  store<u64>(KEY, load<u64>(comm));
  store<u64>(KEY, load<u64>(comm, 8), 8);
  store<u64>(KEY, <u64>direction | (<u64>localCode(rec, direction) << 8) | (<u64>remoteCode(rec, direction) << 32), 16);
  if (withAddrs) {
    const la = TcpOpen.localAddr(rec);
    const ra = TcpOpen.remoteAddr(rec);
    store<u64>(KEY, load<u64>(la), 24);
    store<u64>(KEY, load<u64>(la, 8), 32);
    store<u64>(KEY, load<u64>(ra), 40);
    store<u64>(KEY, load<u64>(ra, 8), 48);
    store<u64>(KEY, <u64>TcpOpen.family(rec), 56);
  } else {
    memory.fill(KEY + 24, 0, 40);
  }
  return cache.slot(KEY);
}

// Label values written on a cache miss: {ptr, len} pairs and the text they point at.
const VALUES = memory.data(6 * 8, 8);
const LOCAL_PORT = memory.data(8);
const REMOTE_PORT = memory.data(8);
const LOCAL_ADDR = memory.data(48);
const REMOTE_ADDR = memory.data(48);

/** The cached series id, interning `metric` with the record's labels on a miss. */
function seriesFor(cache: LabelCache, slot: i32, which: i32, metric: i32, rec: usize, direction: u32, withAddrs: bool): i32 {
  let sid = cache.id(slot, which);
  if (sid != MISS) return sid;
  const isRetransmit = metric == retransmits;
  let n: u32 = 0;
  if (!isRetransmit) {
    const d = unchecked(DIRECTIONS[direction <= PASSIVE ? <i32>direction : 0]);
    n = pair(n, d.ptr, d.len);
  }
  const comm = Header.comm(rec);
  const commLen = strnlen(comm, 16);
  const commAt = n;
  n = commLen == 0 ? pair(n, UNKNOWN_COMM.ptr, UNKNOWN_COMM.len) : pair(n, comm, commLen);
  n = portValue(n, localCode(rec, direction), LOCAL_PORT);
  n = portValue(n, remoteCode(rec, direction), REMOTE_PORT);
  if (withAddrs) {
    const family = <u32>TcpOpen.family(rec);
    n = pair(n, LOCAL_ADDR, formatAddr(TcpOpen.localAddr(rec), family, LOCAL_ADDR));
    n = pair(n, REMOTE_ADDR, formatAddr(TcpOpen.remoteAddr(rec), family, REMOTE_ADDR));
  }
  sid = seriesN(metric, VALUES, n);
  if (sid == EUTF8 && commLen != 0) {
    // A comm that is not UTF-8: count it under its ASCII-safe copy rather than not at all.
    store<u32>(VALUES + (<usize>commAt << 3), <u32>asciiCopy(comm, commLen));
    sid = seriesN(metric, VALUES, n);
  }
  cache.setId(slot, which, sid);
  return sid;
}

function pair(n: u32, ptr: usize, len: u32): u32 {
  store<u32>(VALUES + (<usize>n << 3), <u32>ptr);
  store<u32>(VALUES + (<usize>n << 3), len, 4);
  return n + 1;
}

function portValue(n: u32, code: u32, buf: usize): u32 {
  if (code == EPHEMERAL_CODE) return pair(n, EPHEMERAL.ptr, EPHEMERAL.len);
  return pair(n, buf, writeDecimal(buf, code));
}

function writeDecimal(buf: usize, value: u32): u32 {
  let digits: u32 = 1;
  for (let v = value; v >= 10; v /= 10) digits++;
  let v = value;
  for (let i = digits; i > 0; i--) {
    store<u8>(buf + i - 1, <u8>(48 + v % 10));
    v /= 10;
  }
  return digits;
}

/** Text form of an address: dotted quad for IPv4, RFC 5952 for IPv6 (longest zero run as
 *  "::", lowercase hex, IPv4-mapped as ::ffff:a.b.c.d). Returns the length. */
function formatAddr(addr: usize, family: u32, out: usize): u32 {
  if (family != AF_INET6) return formatV4(addr, out, 0);
  if (load<u64>(addr) == 0 && load<u32>(addr, 8) == 0xffff0000) {
    // ::ffff:a.b.c.d (bytes 10-11 are 0xff; the u32 load is little-endian)
    memory.copy(out, changetype<usize>(MAPPED_PREFIX), 7);
    return formatV4(addr + 12, out, 7);
  }
  // Longest run (at least two) of zero 16-bit groups.
  let bestAt = -1;
  let bestLen = 1;
  let runAt = -1;
  for (let g = 0; g < 8; g++) {
    if (group(addr, g) == 0) {
      if (runAt < 0) runAt = g;
      if (g - runAt + 1 > bestLen) {
        bestAt = runAt;
        bestLen = g - runAt + 1;
      }
    } else {
      runAt = -1;
    }
  }
  let n: u32 = 0;
  let g = 0;
  while (g < 8) {
    if (g == bestAt) {
      store<u8>(out + n++, 0x3a);
      store<u8>(out + n++, 0x3a);
      g += bestLen;
      continue;
    }
    if (g > 0 && g != bestAt + bestLen) store<u8>(out + n++, 0x3a);
    n += writeHex(out + n, group(addr, g));
    g++;
  }
  return n;
}

const MAPPED_PREFIX: StaticArray<u8> = [0x3a, 0x3a, 0x66, 0x66, 0x66, 0x66, 0x3a]; // "::ffff:"

function group(addr: usize, g: i32): u32 {
  return (<u32>load<u8>(addr + (<usize>g << 1)) << 8) | <u32>load<u8>(addr + (<usize>g << 1) + 1);
}

function writeHex(buf: usize, value: u32): u32 {
  let digits: u32 = 1;
  for (let v = value; v >= 16; v >>= 4) digits++;
  let v = value;
  for (let i = digits; i > 0; i--) {
    const d = v & 15;
    store<u8>(buf + i - 1, <u8>(d < 10 ? 48 + d : 87 + d));
    v >>= 4;
  }
  return digits;
}

function formatV4(addr: usize, out: usize, at: u32): u32 {
  let n = at;
  for (let i = 0; i < 4; i++) {
    if (i > 0) store<u8>(out + n++, 0x2e);
    n += writeDecimal(out + n, <u32>load<u8>(addr + i));
  }
  return n;
}
