// Sensor overhead benchmark (issue #3, "Measure and report"): what each eBPF sensor adds to the
// operation it traces, in ns per operation, against no probe and against bpftrace doing the
// equivalent in-kernel work, all in the same run, as in Cloudflare ebpf_exporter's benchmark table.
//
// bench/overhead.c runs one traced operation in a loop for SECONDS and prints the median ns/op of
// ten slices. Per run, for each sensor: no probe (baseline); then, per variant,
// `bpfwasm-helper --sensors NAME` alone (its stdout drained and discarded by this process, so the
// kernel-side cost is what is measured) and `bpftrace -e SCRIPT`. A probe is measured only once it
// is attached: the helper's READY frame; bpftrace's "Attaching N probes" and its probes-attached
// notice, checked against `bpftool perf`. Each measurement also checks that the probe fired on the
// operation (helper program run counts from its STATS frames; bpftrace's final maps or output), so
// a probe that attached to nothing cannot pass as cheap. Sensors are included when
// `bpfwasm-helper --help` lists them.
//
// Run alone with `node bench/sensors.mjs` (root; `npm run build` first; bpftrace from
// scripts/setup.sh). BENCH_SENSORS=a,b limits it to those sensors, BENCH_SENSOR_SECONDS sets the
// loop time (default 0.5), BENCH_HELPER measures another helper build. bpftrace's tracepoints need
// tracefs: mounted at /sys/kernel/tracing if it is not, and then unmounted after.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, run } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 3));
const SECONDS = Number(process.env.BENCH_SENSOR_SECONDS ?? 0.5);
const HELPER_REL = 'ebpf/build/bpfwasm-helper';
const HELPER = process.env.BENCH_HELPER ?? join(ROOT, HELPER_REL);
const BPFTRACE = '/usr/bin/bpftrace';
const TRACEFS = '/sys/kernel/tracing';
const STATS_MS = 50;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const NOMATCH_COMM = 'bench-nomatch';
// /var/tmp is on the root disk (/tmp may be tmpfs, where nothing reaches the block layer).
const BLOCK_FILE = `/var/tmp/bpfwasm-bench-overhead-${process.pid}`;
const dist = (p) => import(pathToFileURL(join(ROOT, 'dist/src', p)).href);

const STAT_PROG_RUN_COUNT = 4;
const STAT_PROG_RUN_TIME_NS = 5;

// Per sensor: the tracepoints it uses, the traced operation (bench/overhead.c arguments), the
// fewest program runs per operation that prove the probe fired on it, and rows pairing a helper
// variant with a bpftrace program doing the same work. `bpftraceCheck` must match its output.
const SYSCALL_HIST = `tracepoint:raw_syscalls:sys_enter {
  @start[tid] = nsecs;
}
tracepoint:raw_syscalls:sys_exit /@start[tid]/ {
  @ns[args->id] = hist(nsecs - @start[tid]);
  if (args->ret < 0) { @errors[args->id, -args->ret] = count(); }
  delete(@start[tid]);
}
END { clear(@start); }`;

const SENSORS = [
  {
    sensor: 'syscalls',
    tracepoints: ['sys_enter', 'sys_exit'],
    op: ['getppid'],
    operation: '`getppid()`',
    minRunsPerOp: 2,
    rows: [
      {
        label: 'latency histogram and errno counts, unfiltered',
        helperArgs: [],
        bpftrace: SYSCALL_HIST,
        bpftraceNote: 'a latency histogram per syscall and error counts per syscall and errno, as the sensor keeps',
        bpftraceCheck: /^@ns\[110\]:/m, // getppid is syscall 110 on x86-64
      },
      {
        label: `comm filter that never matches (\`${NOMATCH_COMM}\`)`,
        helperArgs: ['--set', `syscalls.filter_comm=${NOMATCH_COMM}`],
        bpftrace: SYSCALL_HIST.replace('sys_enter {', `sys_enter /comm == "${NOMATCH_COMM}"/ {`),
        bpftraceNote: 'the same with a comm filter; the exit probe finds no start time',
        bpftraceCheck: null, // nothing matches, so nothing is printed; attachment is checked
      },
    ],
  },
  {
    sensor: 'tcp',
    tracepoints: ['inet_sock_set_state', 'tcp_destroy_sock'],
    op: ['tcp'],
    operation: 'loopback `connect` + `accept` + `close` of both ends (the client resets: no TIME_WAIT)',
    minRunsPerOp: 4,
    rows: [{
      label: 'connection open and close events',
      helperArgs: [],
      // TCP_ESTABLISHED is 1, TCP_CLOSE 7.
      bpftrace: `tracepoint:sock:inet_sock_set_state /args->protocol == 6/ {
  @states[args->oldstate, args->newstate] = count();
  if (args->newstate == 1) {
    @start[args->skaddr] = nsecs;
    printf("open %d %d\\n", args->sport, args->dport);
  }
  if (args->newstate == 7 && @start[args->skaddr]) {
    printf("close %d %d %d\\n", args->sport, args->dport, nsecs - @start[args->skaddr]);
    delete(@start[args->skaddr]);
  }
}
END { clear(@start); }`,
      bpftraceNote: 'the sensor tracks each socket in a map and streams an open and a close event with ports and duration; so does this, with a count of state changes',
      bpftraceCheck: /^close \d+ \d+ \d+$/m,
    }],
  },
  {
    sensor: 'blockio',
    tracepoints: ['block_rq_issue', 'block_rq_complete'],
    op: ['blockio', BLOCK_FILE],
    operation: '4 KiB `O_DIRECT` `pwrite` + `fdatasync` on the root disk',
    minRunsPerOp: 2,
    rows: [{
      label: 'latency histogram and bytes per device and operation',
      helperArgs: [],
      bpftrace: `tracepoint:block:block_rq_issue {
  @start[args->dev, args->sector] = nsecs;
  @bytes[args->dev, args->rwbs] = sum(args->bytes);
}
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ {
  @ns[args->dev, args->rwbs] = hist(nsecs - @start[args->dev, args->sector]);
  delete(@start[args->dev, args->sector]);
}
END { clear(@start); }`,
      bpftraceNote: 'keyed by device and sector: the classic tracepoints carry no request pointer',
      bpftraceCheck: /^@ns\[\d+, W/m,
    }],
  },
  {
    sensor: 'runqlat',
    tracepoints: ['sched_wakeup', 'sched_wakeup_new', 'sched_switch'],
    op: ['pingpong'],
    operation: 'pipe ping-pong round trip between two processes on one CPU (a wakeup and two switches at least)',
    minRunsPerOp: 2,
    rows: [{
      label: 'run-queue latency histogram',
      helperArgs: [],
      bpftrace: `tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new {
  @qtime[args->pid] = nsecs;
}
tracepoint:sched:sched_switch {
  if (args->prev_state == 0) { @qtime[args->prev_pid] = nsecs; }
  $ns = @qtime[args->next_pid];
  if ($ns) { @ns = hist(nsecs - $ns); }
  delete(@qtime[args->next_pid]);
}
END { clear(@qtime); }`,
      bpftraceNote: 'bpftrace\'s own tools/runqlat.bt, in nanoseconds; TASK_RUNNING written as 0, as there are no kernel headers here',
      bpftraceCheck: /^@ns:/m,
    }],
  },
  {
    sensor: 'process',
    tracepoints: ['sched_process_fork', 'sched_process_exec', 'sched_process_exit'],
    op: ['forkexec', '/bin/true'],
    operation: '`vfork` + `exec /bin/true` + `waitpid`',
    minRunsPerOp: 3,
    rows: [{
      label: 'fork, exec and exit events streamed to user space',
      helperArgs: [],
      bpftrace: `tracepoint:sched:sched_process_fork { printf("fork %d %d\\n", args->parent_pid, args->child_pid); }
tracepoint:sched:sched_process_exec { printf("exec %d %s\\n", pid, str(args->filename)); }
tracepoint:sched:sched_process_exit { printf("exit %d %s\\n", args->pid, args->comm); }`,
      bpftraceNote: 'the sensor streams every event to user space; so does this, like execsnoop.bt',
      bpftraceCheck: /^exec \d+ \/bin\/true$/m,
    }],
  },
];
// Sensors with no hot path: listed, not measured.
const IDLE_SENSORS = {
  oom: '`tp_btf/mark_victim` runs only when the OOM killer picks a victim: no operation on a working host pays for it.',
};

/** Sensor names the built helper knows, from its --help ("known: a,b,c"). */
export function helperSensors() {
  const help = execFileSync(HELPER, ['--help'], { encoding: 'utf8' });
  const m = /known: ([\w,]+)\)/.exec(help);
  if (!m) throw new Error('bpfwasm-helper --help lists no sensors');
  return m[1].split(',');
}

async function driver(bin, args) {
  const out = (await run(bin, [args[0], String(SECONDS), ...args.slice(1)])).trim().split(/\s+/).map(Number);
  if (out.length !== 3 || out.some((v) => !Number.isFinite(v))) throw new Error(`overhead ${args[0]}: bad output`);
  const [ops, nsPerOp, allOps] = out;
  return { ops, nsPerOp, allOps };
}

/** Resolves when `pred` matches the accumulated text of `stream`; rejects when `proc` exits first. */
export function waitText(proc, stream, pred, what) {
  return new Promise((ok, fail) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), START_TIMEOUT_MS);
    const onData = (d) => {
      text += d;
      const m = pred(text);
      if (m) done(null, m);
    };
    const onExit = (code) => done(new Error(`exited (${code}) before ${what}`));
    function done(err, m) {
      clearTimeout(timer);
      stream.off('data', onData);
      proc.off('exit', onExit);
      if (err) fail(err); else ok(m);
    }
    stream.on('data', onData);
    proc.on('exit', onExit);
  });
}

export async function stop(proc, signal, resendMs = 0) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const resend = resendMs ? setInterval(() => proc.kill(signal), resendMs) : null;
  const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearInterval(resend);
  clearTimeout(timer);
}

/** The helper with one sensor; its frames are decoded only for READY and STATS, the rest dropped. */
async function startHelper(sensor, extra) {
  const { FrameDecoder, parseStats } = await dist('ingest/frame-decoder.js');
  const args = ['--sensors', sensor, '--stats-ms', String(STATS_MS), ...extra];
  const proc = spawn(HELPER, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const h = { proc, args, stats: null, statsWaiters: [] };
  const died = (code) => new Error(`bpfwasm-helper ${args.join(' ')} exited ${code}: ${stderr.trim()}`);
  // Waiters for the next STATS frame; the helper dying fails them instead of leaving them hanging.
  h.nextStats = () => new Promise((ok, fail) => {
    if (proc.exitCode !== null || proc.signalCode !== null) fail(died(proc.exitCode ?? proc.signalCode));
    else h.statsWaiters.push({ ok, fail });
  });
  proc.on('exit', (code, signal) => {
    for (const w of h.statsWaiters.splice(0)) w.fail(died(code ?? signal));
  });
  await new Promise((ok, fail) => {
    const decoder = new FrameDecoder({
      events: () => {},
      stats: (payload, count) => {
        let runs = 0, timeNs = 0;
        for (const s of parseStats(payload, count)) {
          if (s.kind === STAT_PROG_RUN_COUNT) runs += s.value;
          if (s.kind === STAT_PROG_RUN_TIME_NS) timeNs += s.value;
        }
        h.stats = { runs, timeNs };
        for (const w of h.statsWaiters.splice(0)) w.ok(h.stats);
      },
      control: (kind) => kind === 'ready' && ok(),
    });
    proc.stdout.on('data', (d) => decoder.push(d));
    proc.once('exit', (code, signal) => fail(died(code ?? signal)));
  });
  await h.nextStats();
  return h;
}

/** Program runs and BPF run time between the STATS frames around one measurement. */
async function measureHelper(bin, s, row) {
  const h = await startHelper(s.sensor, row.helperArgs);
  try {
    const before = h.stats;
    const r = await driver(bin, s.op);
    const after = await h.nextStats();
    const runs = after.runs - before.runs;
    const runsPerOp = runs / r.allOps;
    if (runsPerOp < s.minRunsPerOp) {
      throw new Error(`${s.sensor}: ${runs} program runs for ${r.allOps} operations; the probe did not fire on them`);
    }
    return { ...r, runsPerOp, nsPerRun: (after.timeNs - before.timeNs) / runs, command: `${process.env.BENCH_HELPER ?? HELPER_REL} ${h.args.join(' ')}` };
  } finally {
    await stop(h.proc, 'SIGTERM');
  }
}

/** Attached classic tracepoints of a pid, from `bpftool perf show` (where bpftrace's programs are). */
export function perfAttachments(pid) {
  const all = JSON.parse(execFileSync('bpftool', ['perf', 'show', '-j'], { encoding: 'utf8' }) || '[]');
  return all.filter((p) => p.pid === pid).length;
}

/**
 * Runs `during` while bpftrace runs `script` with every probe attached, then stops bpftrace and
 * returns what `during` returned and what bpftrace printed (its maps). Throws with bpftrace's
 * stderr if it fails to attach all its probes or to exit cleanly.
 */
export async function withBpftrace(script, during) {
  // The env variable makes bpftrace print a line once every probe is attached (its test hook).
  const proc = spawn(BPFTRACE, ['-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, __BPFTRACE_NOTIFY_PROBES_ATTACHED: '1' },
  });
  let out = '', err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  try {
    const attaching = waitText(proc, proc.stdout, (t) => /^Attaching (\d+) probes?/m.exec(t), '"Attaching N probes"');
    const attached = waitText(proc, proc.stderr, (t) => t.includes('__BPFTRACE_NOTIFY_PROBES_ATTACHED'), 'probes attached');
    for (const p of [attaching, attached]) p.catch(() => {}); // both may fail: the first is reported
    const [m] = await Promise.all([attaching, attached]).catch((e) => {
      throw new Error(`bpftrace: ${e.message}: ${err.trim()}`);
    });
    // "Attaching N probes" counts BEGIN and END, which are not tracepoints.
    const probes = Number(m[1]) - (script.match(/^(BEGIN|END)\b/gm) ?? []).length;
    const found = perfAttachments(proc.pid);
    if (found < probes) throw new Error(`bpftrace: ${found} of ${probes} probes attached (bpftool perf show)`);
    const result = await during();
    // bpftrace 0.17 sees its exit flag only when the signal interrupts its epoll_wait: one landing
    // between two waits is lost, so resend. SIGTERM, because it resets SIGINT to the default
    // (kill) once it starts printing its maps.
    await stop(proc, 'SIGTERM', 1000);
    if (proc.exitCode !== 0) throw new Error(`bpftrace exited ${proc.exitCode ?? proc.signalCode}: ${err.trim()}`);
    return { result, out };
  } finally {
    await stop(proc, 'SIGKILL');
  }
}

async function measureBpftrace(bin, s, row) {
  const { result, out } = await withBpftrace(row.bpftrace, () => driver(bin, s.op));
  if (row.bpftraceCheck && !row.bpftraceCheck.test(out)) {
    throw new Error(`${s.sensor}: bpftrace's output lacks ${row.bpftraceCheck}; the probe did not fire`);
  }
  return result;
}

/** Tracepoints other processes have programs on right now (links and perf attachments). */
export function attachedTracepoints() {
  const json = (args) => JSON.parse(execFileSync('bpftool', args, { encoding: 'utf8' }) || '[]');
  const names = new Set();
  for (const l of json(['link', 'show', '-j'])) if (l.tp_name) names.add(l.tp_name);
  for (const p of json(['perf', 'show', '-j'])) if (p.tracepoint) names.add(p.tracepoint);
  return [...names];
}

export function tracefsMounted() {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === TRACEFS);
}

export async function benchSensors(log = console.error) {
  if (!existsSync(BPFTRACE)) throw new Error(`${BPFTRACE} is missing: run scripts/setup.sh`);
  const known = helperSensors();
  const only = process.env.BENCH_SENSORS?.split(',');
  const wanted = (name) => known.includes(name) && (!only || only.includes(name));
  const sensors = SENSORS.filter((s) => wanted(s.sensor));
  const idle = Object.entries(IDLE_SENSORS).filter(([name]) => wanted(name));
  const missing = [...SENSORS.map((s) => s.sensor), ...Object.keys(IDLE_SENSORS)].filter((n) => !known.includes(n));
  const started = Date.now();
  const bpftraceVersion = execFileSync(BPFTRACE, ['--version'], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-bench-overhead-'));
  const bin = join(dir, 'overhead');
  execFileSync('cc', ['-O2', '-o', bin, join(ROOT, 'bench/overhead.c')]);
  const mounted = !tracefsMounted();
  if (mounted) execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS]);
  const results = sensors.map((s) => ({
    s, base: [], steps: [], foreign: new Map(), rows: s.rows.map((row) => ({ row, helper: [], bpftrace: [] })),
  }));
  try {
    // Runs alternate the configurations, and every probed measurement sits between two baselines
    // (B H B T B ...): its added cost is taken against their mean, so the drift of a shared
    // machine's load over seconds cancels out instead of landing on one configuration.
    for (let i = 0; i < RUNS; i++) {
      for (const res of results) {
        const baseline = async () => {
          // Other processes' programs on the tracepoints this operation hits (every syscall hits
          // sys_enter/sys_exit) slow the baseline and hide part of the overhead: reported.
          for (const name of attachedTracepoints()) {
            if (res.s.tracepoints.includes(name) || /^sys_(enter|exit)$/.test(name)) res.foreign.set(name, (res.foreign.get(name) ?? 0) + 1);
          }
          const b = await driver(bin, res.s.op);
          res.base.push(b);
          return b.nsPerOp;
        };
        let before = await baseline();
        const paired = async (m) => {
          const after = await baseline();
          res.steps.push(Math.abs(after - before));
          const mean = (before + after) / 2;
          before = after;
          return { ...m, delta: m.nsPerOp - mean, ratio: m.nsPerOp / mean };
        };
        for (const r of res.rows) {
          r.helper.push(await paired(await measureHelper(bin, res.s, r.row)));
          r.bpftrace.push(await paired(await measureBpftrace(bin, res.s, r.row)));
        }
        log(`sensors: run ${i + 1}/${RUNS} ${res.s.sensor}: ` + res.rows.map((r) =>
          `bpfwasm ${r.helper.at(-1).delta.toFixed(0)} ns/op, bpftrace ${r.bpftrace.at(-1).delta.toFixed(0)} ns/op`).join('; ') +
          ` over a baseline of ${median(res.base.slice(-1 - 2 * res.rows.length).map((b) => b.nsPerOp)).toFixed(0)} ns/op`);
      }
    }
  } finally {
    if (mounted) execFileSync('umount', [TRACEFS]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(BLOCK_FILE, { force: true });
  }
  log(`sensors: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { runs: RUNS, seconds: SECONDS, bpftraceVersion, results, idle, missing };
}

const nsOf = (xs) => median(xs.map((x) => x.nsPerOp));
const fmtNs = (v) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} ms` : v >= 10_000 ? `${(v / 1000).toFixed(1)} µs` : `${v.toFixed(0)} ns`);
const fmtDelta = (v) => `${v < 0 ? '−' : '+'}${fmtNs(Math.abs(v))}`;

export function sensorsMarkdown(r) {
  const lines = [];
  for (const { s, base, steps, rows } of r.results) {
    const range = base.map((x) => x.nsPerOp);
    // The typical gap between two consecutive baselines: a smaller added cost is not told from noise.
    const noise = median(steps);
    const cell = (ms) => {
      const d = median(ms.map((m) => m.delta));
      // A probe cannot speed an operation up: a negative difference is noise whatever its size.
      return `${fmtNs(nsOf(ms))} (${fmtDelta(d)}${d <= noise ? '†' : ''}, ${median(ms.map((m) => m.ratio)).toFixed(2)}×)`;
    };
    for (const { row, helper, bpftrace } of rows) {
      const dw = median(helper.map((m) => m.delta)), dt = median(bpftrace.map((m) => m.delta));
      const share = dt > noise ? `${Math.max(0, (dw / dt) * 100).toFixed(0)}%` : 'n/a';
      lines.push(`| ${s.sensor}: ${row.label} | ${s.operation} | ${fmtNs(median(range))} (${fmtNs(Math.min(...range))}–${fmtNs(Math.max(...range))}; ` +
        `±${fmtNs(noise)}) | ${cell(helper)} | ${cell(bpftrace)} | ${share} | ` +
        `${median(helper.map((h) => h.runsPerOp)).toFixed(1)} × ${median(helper.map((h) => h.nsPerRun)).toFixed(0)} ns |`);
    }
  }
  for (const [name, why] of r.idle) lines.push(`| ${name} | none | | | | | not measured: ${why} |`);
  const foreign = r.results.map(({ s, foreign, base }) => `${s.sensor}: ${foreign.size
    ? [...foreign].map(([n, c]) => `\`${n}\` (${c} of ${base.length})`).join(', ') : 'none'}`).join('; ');
  const commands = r.results.flatMap(({ s, rows }) => rows.map(({ row, helper }) => `- ${s.sensor}, ${row.label}: \`${helper[0].command}\``));
  const scripts = r.results.flatMap(({ s, rows }) => rows.map(({ row }) =>
    `${s.sensor}, ${row.label}${row.bpftraceNote ? ` (${row.bpftraceNote})` : ''}:\n\n\`\`\`\n${row.bpftrace}\n\`\`\`\n`));
  return `## eBPF sensors: overhead per traced operation

Command: \`npm run bench\` (section \`bench/sensors.mjs\`; alone: \`node bench/sensors.mjs\`, one
sensor: \`BENCH_SENSORS=syscalls node bench/sensors.mjs\`). \`bench/overhead.c\` (\`cc -O2\`, at nice −20
so that other load disturbs it less) runs the operation a sensor traces in a loop for ${r.seconds} s after
a 0.1 s warm-up, timed in ten equal slices, and prints the median slice's ns/op (a burst of other
load spoils a slice or two, not the median): with no probe (baseline); while \`bpfwasm-helper\` runs alone with
that one sensor, its stdout drained and discarded by the bench (so this is the kernel-side cost, plus
the helper's own CPU on a shared core); and while ${r.bpftraceVersion} (Debian's package) runs the
equivalent program listed below. A probe is measured only once attached (the helper's READY frame;
bpftrace's "Attaching N probes" and its probes-attached notice, checked with \`bpftool perf show\`),
and each measurement checks that the probe fired on the operation (the helper's program run counts;
bpftrace's final maps or output). The configurations alternate within each run, and each probed
measurement sits between two baselines: its added ns/op and its ratio (×) are against the mean of
those two, so drifts of the machine's load cancel out. Medians of ${r.runs} runs. "No probe": the
median baseline, its range, and ± the median gap between two consecutive baselines, i.e. the noise
between measurements seconds apart; † marks an added cost no larger than that (or negative): noise.
"Share": bpfwasm's added ns/op as a fraction of bpftrace's (n/a when bpftrace's is within noise).
Last column: the helper's BPF program runs per operation and the time of one run, from the
kernel's bpf_stats (read from the helper's STATS frames; the helper always enables bpf_stats, and
that accounting is part of its cost); runs are counted host-wide, so other processes' events are in
them.

| sensor: configuration | traced operation | no probe (range; ±noise) | bpfwasm (added, ×) | bpftrace (added, ×) | share | bpfwasm program runs per op × time per run |
|---|---|---|---|---|---|---|
${lines.join('\n')}

Other processes' programs on the tracepoints an operation hits, seen as its baselines started (other
engineers' tests share this machine; a program on \`sys_enter\` slows every syscall, so it raises the
baseline and hides part of the overhead): ${foreign}.
${r.missing.length ? `\nNot in this build of the helper, so not measured: ${r.missing.join(', ')}.\n` : ''}
Why the rows differ: an enabled \`sys_enter\`/\`sys_exit\` tracepoint moves every task to the slow
syscall path, so the syscalls sensor costs even the processes its filter drops (the filter row: the
programs run and return early). bpftrace attaches classic \`tracepoint:\` programs through perf
events (they read the tracepoint's formatted record); the sensors attach \`raw_tp\`/\`tp_btf\` programs,
which get the tracepoint's raw arguments. Operations that
take microseconds to milliseconds (TCP, block I/O, fork + exec) make a probe's cost small next to
the run-to-run noise of a shared VM, so their rows are often †.

Helper commands (the bench adds \`--stats-ms ${STATS_MS}\` to read program run counts):
${commands.join('\n')}

bpftrace programs (\`bpftrace -e '…'\`), the in-kernel work closest to each sensor's:

${scripts.join('\n')}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(sensorsMarkdown(await benchSensors()));
}
