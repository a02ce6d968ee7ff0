// Built-in exporter: process execs and exits by command name, exit status and lifetime, and a
// structured `process_exit` info log line for the exits config `logExits` selects.
import {
  RecordType, Header, ProcessExec, ProcessExit, SeriesCache, Utf8, EUTF8, LOG_INFO, JsonLine,
  declareCounter, declareHistogram, subscribe, series1, series2, strnlen, asciiCopy,
  counterAdd, observe, flush, batchBegin, configValue, fail,
} from "../sdk/assemblyscript/index";

export { bpfwasm_abi_version, bpfwasm_batch_buffer, bpfwasm_forget } from "../sdk/assemblyscript/index";

const LIFETIME_BUCKETS: StaticArray<f64> = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600,
];

// Linux signal names, index = signal number.
const SIGNALS: StaticArray<string> = [
  "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
  "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
  "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
  "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
];

// exit_code label values, kept low-cardinality: index 0-9 the codes 0-9, then 126, 127, "other",
// the 31 signal names (index OTHER + signal) and finally "signal" for any higher signal number.
const CODE_126: u32 = 10;
const CODE_127: u32 = 11;
const OTHER: u32 = 12;
const UNKNOWN_SIGNAL: u32 = OTHER + 32;
const exitLabels: Utf8[] = [];

const NS_PER_SECOND: f64 = 1e9;
const BAD_BATCH: i32 = 1;

let execTotal: i32 = 0;
let exitTotal: i32 = 0;
let lifetime: i32 = 0;
const execIds = new SeriesCache(1024);
const exitIds = new SeriesCache(4096);
const lifetimeIds = new SeriesCache(1024);

// Which exits are logged (config `logExits`): "listed" (the default) those whose exit code is in
// `logExitCodes` or whose signal is in `logExitSignals` (crashes and kills, not `grep` finding
// nothing), or none, those killed by a signal, or every non-zero exit (a signal included). The
// host rate-limits the lines and counts the drops.
const LOG_NONE: i32 = 0;
const LOG_SIGNALS: i32 = 1;
const LOG_NONZERO: i32 = 2;
const LOG_LISTED: i32 = 3;
let logExits: i32 = LOG_LISTED;
// The collector passes its config's lists; these are its defaults, for a host that passes none.
const DEFAULT_CODES = "126,127";
const DEFAULT_SIGNALS = "SIGABRT,SIGBUS,SIGFPE,SIGILL,SIGKILL,SIGSEGV,SIGSYS";
const MAX_SIGNAL: u32 = 64;
const listedCodes = new StaticArray<bool>(256);
const listedSignals = new StaticArray<bool>(MAX_SIGNAL + 1);

export function bpfwasm_init(): i32 {
  const mode = configValue("logExits");
  if (mode === null || mode == "listed") logExits = LOG_LISTED;
  else if (mode == "nonzero") logExits = LOG_NONZERO;
  else if (mode == "signals") logExits = LOG_SIGNALS;
  else if (mode == "none") logExits = LOG_NONE;
  else fail("logExits must be listed, nonzero, signals or none, got \"" + mode + "\"");
  const codes = configValue("logExitCodes");
  const signals = configValue("logExitSignals");
  listCodes(codes === null ? DEFAULT_CODES : codes);
  listSignals(signals === null ? DEFAULT_SIGNALS : signals);
  execTotal = declareCounter("bpfwasm_process_exec_total", "Processes that called execve, by command name", "comm");
  exitTotal = declareCounter("bpfwasm_process_exit_total",
    "Processes that exited, by command name and exit code or killing signal", "comm,exit_code");
  lifetime = declareHistogram("bpfwasm_process_lifetime_seconds",
    "Lifetime of exited processes, by command name", "comm", LIFETIME_BUCKETS);
  for (let code = 0; code < 10; code++) exitLabels.push(new Utf8(code.toString()));
  exitLabels.push(new Utf8("126"));
  exitLabels.push(new Utf8("127"));
  exitLabels.push(new Utf8("other"));
  for (let s = 1; s < SIGNALS.length; s++) exitLabels.push(new Utf8(SIGNALS[s]));
  exitLabels.push(new Utf8("signal"));
  subscribe(RecordType.PROCESS_EXEC);
  subscribe(RecordType.PROCESS_EXIT);
  return 0;
}

export function bpfwasm_on_batch(recordType: u32, ptr: usize, len: u32, count: u32): i32 {
  batchBegin();
  if (recordType == RecordType.PROCESS_EXEC) {
    if (len != count * ProcessExec.SIZE) return BAD_BATCH;
    for (let i: u32 = 0; i < count; i++) onExec(ptr + i * ProcessExec.SIZE);
  } else if (recordType == RecordType.PROCESS_EXIT) {
    if (len != count * ProcessExit.SIZE) return BAD_BATCH;
    for (let i: u32 = 0; i < count; i++) onExit(ptr + i * ProcessExit.SIZE);
  } else {
    return BAD_BATCH;
  }
  flush();
  return 0;
}

function onExec(rec: usize): void {
  const comm = Header.comm(rec);
  const c0 = load<u64>(comm);
  const c1 = load<u64>(comm, 8);
  let sid = execIds.get(c0, c1, 0);
  if (sid == SeriesCache.MISS) {
    sid = commSeries(execTotal, comm, null);
    execIds.set(c0, c1, 0, sid);
  }
  counterAdd(sid, 1);
}

function onExit(rec: usize): void {
  const comm = Header.comm(rec);
  const c0 = load<u64>(comm);
  const c1 = load<u64>(comm, 8);
  const code = exitLabelIndex(ProcessExit.exitCode(rec), ProcessExit.exitSignal(rec));
  let sid = exitIds.get(c0, c1, code);
  if (sid == SeriesCache.MISS) {
    sid = commSeries(exitTotal, comm, unchecked(exitLabels[code]));
    exitIds.set(c0, c1, code, sid);
  }
  counterAdd(sid, 1);
  let hid = lifetimeIds.get(c0, c1, 0);
  if (hid == SeriesCache.MISS) {
    hid = commSeries(lifetime, comm, null);
    lifetimeIds.set(c0, c1, 0, hid);
  }
  observe(hid, <f64>ProcessExit.lifetimeNs(rec) / NS_PER_SECOND);
  const signal = ProcessExit.exitSignal(rec);
  if (worthLogging(ProcessExit.exitCode(rec), signal)) logExit(rec);
}

function worthLogging(code: u32, signal: u32): bool {
  if (logExits == LOG_LISTED) return signal != 0 ? signal <= MAX_SIGNAL && unchecked(listedSignals[signal]) : unchecked(listedCodes[code & 0xff]);
  return signal != 0 ? logExits >= LOG_SIGNALS : logExits == LOG_NONZERO && code != 0;
}

/** "126,127": exit codes 1-255 to log. */
function listCodes(text: string): void {
  const parts = text.split(",");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i].trim();
    if (part.length == 0) continue;
    const n = parseInt(part, 10);
    if (isNaN(n) || n < 1 || n > 255 || n != Math.floor(n)) fail("logExitCodes must be exit codes 1-255, got \"" + part + "\"");
    unchecked(listedCodes[<i32>n] = true);
  }
}

/** "SIGKILL,SIGSEGV": signal names to log. */
function listSignals(text: string): void {
  const parts = text.split(",");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i].trim();
    if (part.length == 0) continue;
    let found = -1;
    for (let s = 1; s < SIGNALS.length; s++) if (unchecked(SIGNALS[s]) == part) found = s;
    if (found < 0) fail("logExitSignals must be signal names like SIGKILL, got \"" + part + "\"");
    unchecked(listedSignals[found] = true);
  }
}

/** Index into exitLabels for a normal exit code or a killing signal. */
function exitLabelIndex(code: u32, signal: u32): u32 {
  if (signal != 0) return signal < 32 ? OTHER + signal : UNKNOWN_SIGNAL;
  if (code < 10) return code;
  if (code == 126) return CODE_126;
  if (code == 127) return CODE_127;
  return OTHER;
}

/**
 * Interns {comm[, extra]}. A comm that is not UTF-8 is retried with its non-ASCII bytes as '?',
 * so such a process is still counted rather than silently dropped.
 */
function commSeries(metric: i32, comm: usize, extra: Utf8 | null): i32 {
  const len = strnlen(comm, 16);
  let sid = extra !== null ? series2(metric, comm, len, extra.ptr, extra.len) : series1(metric, comm, len);
  if (sid == EUTF8) {
    const safe = asciiCopy(comm, len);
    sid = extra !== null ? series2(metric, safe, len, extra.ptr, extra.len) : series1(metric, safe, len);
  }
  return sid;
}

// ---- the process_exit log event, written into a static buffer without allocating ----

// comm is at most 16 bytes (96 escaped), the rest is numbers: the line always fits.
const line = new JsonLine(256);

function logExit(rec: usize): void {
  const signal = ProcessExit.exitSignal(rec);
  const ns = ProcessExit.lifetimeNs(rec);
  line.start();
  line.ascii("{\"event\":\"process_exit\",\"pid\":");
  line.u64(Header.tgid(rec));
  line.ascii(",\"comm\":");
  line.cstring(Header.comm(rec), 16);
  line.ascii(",\"exit_code\":");
  line.u64(ProcessExit.exitCode(rec));
  line.ascii(",\"signal\":");
  if (signal == 0) {
    line.ascii("null");
  } else if (signal < <u32>SIGNALS.length) {
    line.byte(0x22);
    line.ascii(unchecked(SIGNALS[signal]));
    line.byte(0x22);
  } else {
    line.ascii("\"SIG");
    line.u64(signal);
    line.byte(0x22);
  }
  // Microsecond precision, as a JSON number: seconds, '.', six digits.
  line.ascii(",\"lifetime_seconds\":");
  line.u64(ns / 1_000_000_000);
  line.byte(0x2e);
  line.u64((ns % 1_000_000_000) / 1000, 6);
  line.byte(0x7d);
  line.log(LOG_INFO);
}
