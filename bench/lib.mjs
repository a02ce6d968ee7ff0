// Shared benchmark plumbing: processes, /proc readings, medians, exposition parsing.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, release, totalmem } from 'node:os';

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function machine() {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}`;
}

export async function freePort() {
  return new Promise((ok) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resident set size in bytes, from /proc. */
export function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * On-CPU time of all of a process's threads, in seconds, from schedstat (exact nanoseconds).
 * utime/stime are sampled at the 100 Hz tick and over-charge processes that wake in step
 * with a timer, which is exactly what a collector polling every few milliseconds does.
 */
export function cpuSeconds(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  }
  return ns / 1e9;
}

/**
 * The idle CPU rate (CPU-seconds a second) of each pid: the median of `seconds` one-second
 * samples. A median, not a mean: V8's occasional idle-time GC (the memory reducer, tens of ms)
 * would otherwise make the idle baseline swing by a third from one window to the next; leaving
 * it out makes the figures netted against it higher, never lower.
 */
export async function idleCpuRates(pids, seconds) {
  const samples = pids.map(() => []);
  let prev = pids.map(cpuSeconds), t = process.hrtime.bigint();
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = pids.map(cpuSeconds), tn = process.hrtime.bigint();
    const wall = Number(tn - t) / 1e9;
    for (let k = 0; k < pids.length; k++) samples[k].push((now[k] - prev[k]) / wall);
    prev = now;
    t = tn;
  }
  return samples.map(median);
}

/** Voluntary context switches (each one a sleep and a wake-up): of every thread of `pid` summed, and of its main thread. */
export function voluntarySwitches(pid) {
  const of = (tid) => Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? 0);
  let all = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) all += of(tid);
  return { all, main: of(pid) };
}

export function childPidByComm(parent, comm) {
  const kids = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return kids.map(Number).find((p) => {
    try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm; } catch { return false; }
  });
}

export async function waitHttp(url, status = 200, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.status === status) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}`);
    await sleep(5);
  }
}

export function parseExposition(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** Sum of all samples of a metric name. */
export function total(m, name) {
  let s = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) s += v;
  return s;
}

export function run(cmd, args, opts = {}) {
  return new Promise((ok, fail) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? ok(out) : fail(new Error(`${cmd} exited ${code}`))));
  });
}

/** Sum of the samples of `name` whose label set contains `labels` (e.g. 'sensor="bench"'). */
export function totalWhere(m, name, labels) {
  let s = 0;
  for (const [k, v] of m) if (k.startsWith(`${name}{`) && k.includes(labels)) s += v;
  return s;
}

/**
 * Resident memory of a process by mapping, from /proc/PID/smaps, in bytes: BPF maps mmapped
 * from the kernel (ring buffers: anon_inode:bpf-map), the heap, other anonymous memory, the
 * executable and each shared library, and the rest; plus the totals of smaps_rollup.
 */
export function smapsBreakdown(pid) {
  const groups = new Map();
  let name = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const path = head[1].trim();
      name = path === '' ? 'anonymous' : path.startsWith('anon_inode:bpf') ? 'BPF maps (ring buffers)'
        : path === '[heap]' ? 'heap' : path.startsWith('[') ? path : path.split('/').at(-1);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && name) groups.set(name, (groups.get(name) ?? 0) + Number(rss[1]) * 1024);
  }
  const rollup = {};
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m) rollup[m[1]] = Number(m[2]) * 1024;
  }
  return { groups: Object.fromEntries([...groups].sort((a, b) => b[1] - a[1])), rollup };
}

/** Per thread of `pid`: its name, voluntary context switches (wake-ups) and on-CPU ns; the main thread is named `main`. */
export function threadWakeups(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      out.set(tid, {
        name: tid === String(pid) ? 'main' : /^Name:\s*(.*)$/m.exec(status)[1],
        wakes: Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)[1]),
        ns: Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]),
      });
    } catch { /* the thread ended meanwhile */ }
  }
  return out;
}

/**
 * Wake-ups/s and CPU share of each thread between two threadWakeups() of the same process, busiest
 * first (Node names its worker, V8 and libuv threads alike: an exporter thread is the busy `node` one).
 */
export function wakeupsPerThread(before, after, seconds) {
  const out = [];
  for (const [tid, t] of after) {
    const t0 = before.get(tid) ?? { wakes: 0, ns: 0 };
    out.push({ name: t.name === 'main' ? 'main' : `${t.name}:${tid}`, wakeupsPerSecond: (t.wakes - t0.wakes) / seconds, cpuShare: (t.ns - t0.ns) / 1e9 / seconds });
  }
  return out.sort((a, b) => b.wakeupsPerSecond - a.wakeupsPerSecond);
}
