// CPU profiler benchmark (issue: on-demand CPU profiles). Two figures:
//  1. Overhead on a CPU-bound workload: a C integer loop pinned to CPU 0 counts iterations per
//     second alone (baseline), then while `bpfwasm-helper --profile --pid` samples it, then while
//     bcc's `profile` tool samples it, at 99 Hz and 999 Hz. Runs are interleaved; medians.
//  2. Symbolization: a RawProfile of 1M samples over 50k distinct user stacks whose addresses lie
//     inside a real running binary, through symbolize(); first (cold) run and warm runs.
// Run alone with `node bench/profiler.mjs` (needs root, `make -C ebpf` and `npx tsc -p tsconfig.json`).
//
// bcc is optional and not part of the project's setup. To get its row on Debian 12 (as root):
//   apt-get update
//   apt-get install -y --no-install-recommends bpfcc-tools
//   apt-get install -y --no-install-recommends linux-headers-6.12.107+deb12-amd64   # or any close version
// The kernel's own headers are usually missing; the bench points BCC_KERNEL_SOURCE at the newest
// /usr/src/linux-headers-*-amd64 merged with its -common (see bccEnv) unless BCC_KERNEL_SOURCE is set.
// The headers package also pulls in the matching linux-image package and builds an initramfs.
// Without bcc the section says why instead of failing.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpuSeconds, median, sleep } from './lib.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS ?? 3));
const SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 5);
const HZ = [99, 999];
const HELPER = resolve(ROOT, 'ebpf/build/bpfwasm-helper');
const BCC = '/usr/sbin/profile-bpfcc';
const BCC_INSTALL = 'apt-get install -y --no-install-recommends bpfcc-tools linux-headers-6.12.107+deb12-amd64';
const STACKS = Number(process.env.BENCH_PROFILE_STACKS ?? 50_000);
const SAMPLES = Number(process.env.BENCH_PROFILE_SAMPLES ?? 1_000_000);
const dist = (p) => import(pathToFileURL(resolve(ROOT, 'dist/src', p)).href);

// Spins from start-up (so a profiler sees it running), measures SECONDS of iterations after SIGUSR1.
const SPIN_C = String.raw`
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
static volatile sig_atomic_t go;
static void on_usr1(int s) { (void)s; go = 1; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
__attribute__((noinline)) static uint64_t work(uint64_t x, int n) {
  for (int i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x += (uint64_t)i * 0x9E3779B97F4A7C15ull; }
  return x;
}
int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  signal(SIGUSR1, on_usr1);
  puts("ready"); fflush(stdout);
  uint64_t x = 88172645463325252ull;
  while (!go) x = work(x, 1024);
  uint64_t iters = 0;
  double t0 = now(), t;
  do { x = work(x, 1024); iters += 1024; } while ((iters & 0xffff) || (t = now()) - t0 < seconds);
  printf("%.0f %llu\n", iters / (t - t0), (unsigned long long)(x & 1));
  return 0;
}
`;

// Many functions to sample from; waits on stdin so its maps stay alive while we symbolize.
function manyFunctionsC(n) {
  const fns = Array.from({ length: n }, (_, i) =>
    `__attribute__((noinline)) int fn_${i}(int x) { for (int i = 0; i < ${(i % 7) + 1}; i++) x = x * ${2 * i + 3} + ${i}; return x ^ ${i}; }`);
  const table = `int (*table[])(int) = { ${Array.from({ length: n }, (_, i) => `fn_${i}`).join(', ')} };`;
  return `#include <stdio.h>\n${fns.join('\n')}\n${table}\nint main(void) { int x = 0; for (unsigned i = 0; i < sizeof table / sizeof *table; i++) x = table[i](x); printf("ready %d\\n", x & 1); fflush(stdout); getchar(); return 0; }\n`;
}

function compile(dir, name, source, extra = []) {
  const c = join(dir, `${name}.c`);
  writeFileSync(c, source);
  const bin = join(dir, name);
  execFileSync('cc', ['-O2', '-fno-omit-frame-pointer', ...extra, '-o', bin, c], { stdio: 'inherit' });
  return bin;
}

/** Resolves with the first stdout line (the child's "ready"); rejects if it exits first. */
function firstLine(p) {
  return new Promise((ok, fail) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) { p.stdout.off('data', onData); ok(buf.slice(0, nl)); }
    };
    p.stdout.on('data', onData);
    p.once('exit', (code) => fail(new Error(`${p.spawnfile} exited ${code} before its first line`)));
  });
}

const exited = (p) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((ok) => p.once('exit', ok)));

/** Number of perf-event fds a process holds: a profiler holds one per CPU once it samples. */
function perfEventFds(pid) {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try { if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[perf_event]') n++; } catch { /* closed meanwhile */ }
    }
  } catch { /* gone */ }
  return n;
}

async function waitSampling(p, timeoutMs, stderr) {
  const deadline = Date.now() + timeoutMs;
  while (perfEventFds(p.pid) < cpus().length) {
    if (p.exitCode !== null || p.signalCode !== null) throw new Error(`exited ${p.exitCode ?? p.signalCode} before sampling: ${stderr().trim().split('\n').slice(-3).join(' | ')}`);
    if (Date.now() > deadline) throw new Error(`no perf events after ${timeoutMs / 1000} s: ${stderr().trim().split('\n').slice(-3).join(' | ')}`);
    await sleep(50);
  }
}

/**
 * One measurement: start the workload (spinning), start the profiler on its pid, wait until the
 * profiler holds its perf events, then time SECONDS of the workload. Returns iterations/s and the
 * profiler's CPU while the workload was measured, as a share of one CPU.
 */
async function measure(spin, profiler) {
  const w = spawn('taskset', ['-c', '0', spin, String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await firstLine(w);
  let prof;
  let err = '';
  try {
    if (profiler) {
      prof = spawn(profiler.cmd, profiler.args(w.pid), { stdio: ['pipe', 'pipe', 'pipe'], env: profiler.env });
      prof.stdout.resume(); // the result itself is not needed; it must not block on a full pipe
      prof.stderr.on('data', (d) => (err += d));
      await waitSampling(prof, profiler.startTimeoutMs, () => err);
    }
    const out = new Promise((ok) => { let s = ''; w.stdout.on('data', (d) => (s += d)); w.once('exit', () => ok(s)); });
    const c0 = prof ? cpuSeconds(prof.pid) : 0;
    const t0 = performance.now();
    w.kill('SIGUSR1');
    const line = await out;
    const cpu = prof ? (cpuSeconds(prof.pid) - c0) / ((performance.now() - t0) / 1000) : 0;
    const rate = Number(line.trim().split(/\s+/)[0]);
    if (!(rate > 0)) throw new Error(`workload printed ${JSON.stringify(line)}`);
    return { rate, cpu };
  } finally {
    w.kill('SIGKILL');
    if (prof) {
      prof.kill(profiler.stopSignal);
      const t = setTimeout(() => prof.kill('SIGKILL'), 20_000);
      await exited(prof);
      clearTimeout(t);
    }
  }
}

/**
 * bcc's `profile` and the environment it needs, or why it cannot run here. Debian splits a kernel's
 * headers into `linux-headers-VER-amd64` (config, generated headers) and `linux-headers-VER-common`
 * (the rest), but BCC_KERNEL_SOURCE takes one tree: merge both into `dir` as a symlink farm.
 */
function bccEnv(dir) {
  if (!existsSync(BCC)) return { reason: `${BCC} not found (install: ${BCC_INSTALL})` };
  const env = { ...process.env, PYTHONUNBUFFERED: '1' };
  if (!env.BCC_KERNEL_SOURCE && !existsSync(`/lib/modules/${release()}/build`)) {
    const hdrs = existsSync('/usr/src') ? readdirSync('/usr/src').filter((d) => /^linux-headers-.*-amd64$/.test(d))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true })) : [];
    if (hdrs.length === 0) return { reason: `no headers for kernel ${release()} and no linux-headers-*-amd64 in /usr/src (install: ${BCC_INSTALL})` };
    const arch = `/usr/src/${hdrs.at(-1)}`;
    const common = arch.replace(/-amd64$/, '-common');
    const tree = join(dir, 'kernel-headers');
    mkdirSync(tree);
    if (existsSync(common)) execFileSync('cp', ['-rs', `${common}/.`, `${tree}/`]);
    execFileSync('cp', ['-rs', '--remove-destination', `${arch}/.`, `${tree}/`]);
    env.BCC_KERNEL_SOURCE = tree;
    env.BCC_HEADERS = `${arch}${existsSync(common) ? ` + ${common}` : ''}`;
  }
  return { env };
}

export async function benchOverhead(log = console.error) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-prof-'));
  try {
    const spin = compile(dir, 'spin', SPIN_C);
    const configs = [{ name: 'baseline', hz: 0, tool: 'none' }];
    for (const hz of HZ) {
      configs.push({
        name: `bpfwasm ${hz} Hz`, hz, tool: 'bpfwasm',
        profiler: {
          cmd: HELPER,
          // Sampling lasts past the measurement; SIGTERM then ends it (the helper discards the result).
          args: (pid) => ['--profile', '--hz', String(hz), '--seconds', String(SECONDS + 30), '--pid', String(pid)],
          env: process.env, startTimeoutMs: 10_000, stopSignal: 'SIGTERM',
        },
      });
    }
    const bcc = bccEnv(dir);
    let bccError = bcc.reason;
    if (bcc.env) {
      for (const hz of HZ) {
        configs.push({
          name: `bcc profile ${hz} Hz`, hz, tool: 'bcc',
          profiler: {
            cmd: BCC,
            // -f: folded output (cheapest to print at the end); SIGINT prints and exits.
            args: (pid) => ['-F', String(hz), '-p', String(pid), '-f', String(SECONDS + 30)],
            env: bcc.env, startTimeoutMs: 30_000, stopSignal: 'SIGINT',
          },
        });
      }
    }
    const results = new Map(configs.map((c) => [c.name, { ...c, rates: [], cpus: [] }]));
    for (let r = 0; r < RUNS; r++) {
      for (const c of configs) {
        const res = results.get(c.name);
        if (c.tool === 'bcc' && bccError) continue;
        log(`profiler overhead: ${c.name}, run ${r + 1}/${RUNS}`);
        try {
          const { rate, cpu } = await measure(spin, c.profiler);
          res.rates.push(rate);
          res.cpus.push(cpu);
        } catch (e) {
          if (c.tool !== 'bcc') throw e;
          bccError = e.message;
          log(`bcc profile: could not run: ${bccError}`);
        }
      }
    }
    const rows = [...results.values()].filter((c) => c.tool !== 'bcc' || !bccError)
      .map((c) => ({ name: c.name, tool: c.tool, hz: c.hz, rate: median(c.rates), cpu: median(c.cpus) }));
    return { runs: RUNS, seconds: SECONDS, rows, bccError, bccHeaders: bcc.env?.BCC_HEADERS, bccSource: bcc.env?.BCC_KERNEL_SOURCE };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchSymbolize(log = console.error) {
  const { symbolize } = await dist('profile/symbolize/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-sym-'));
  const FUNCS = 2000;
  const bin = compile(dir, 'many', manyFunctionsC(FUNCS), ['-O1']);
  const p = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await firstLine(p);
    const maps = readFileSync(`/proc/${p.pid}/maps`, 'latin1');
    // PIE: the mapping at file offset 0 is the load base (first PT_LOAD at vaddr 0).
    const base = BigInt(`0x${maps.split('\n').find((l) => l.endsWith(bin) && / 00000000 /.test(l)).split('-')[0]}`);
    const fns = execFileSync('nm', ['-S', '--defined-only', bin]).toString().split('\n')
      .map((l) => l.split(' ')).filter((f) => f.length === 4 && /^[tT]$/.test(f[2]) && f[3].startsWith('fn_'))
      .map(([addr, size, , name]) => ({ addr: base + BigInt(`0x${addr}`), size: Number(`0x${size}`), name }));
    let seed = 42;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const pick = () => { const f = fns[Math.floor(random() * fns.length)]; return f.addr + BigInt(1 + Math.floor(random() * (f.size - 1))); };
    const stacks = new Map();
    const seen = new Set();
    while (stacks.size < STACKS) {
      const depth = 3 + Math.floor(random() * 30); // 3 to 32 frames, leaf first
      const ips = Array.from({ length: depth }, pick);
      const key = ips.join(',');
      if (seen.has(key)) continue;
      seen.add(key);
      stacks.set(stacks.size + 1, ips);
    }
    // Two threads per stack, counts summing to 1M samples.
    const samples = [];
    for (let id = 1; id <= STACKS; id++) {
      const n = Math.floor(SAMPLES / STACKS) + (id <= SAMPLES % STACKS ? 1 : 0);
      samples.push({ tgid: p.pid, pid: p.pid, kernelStackId: -14, userStackId: id, count: n - (n >> 1), comm: 'many' });
      samples.push({ tgid: p.pid, pid: p.pid + 1, kernelStackId: -14, userStackId: id, count: n >> 1, comm: 'many' });
    }
    const raw = {
      hz: 999, seconds: 10, durationMs: 10_000, ncpus: 2, samples, stacks, maps: new Map([[p.pid, maps]]),
      stackErrors: { kernelMissing: 0, userMissing: 0, collisions: 0, other: 0 },
    };
    const opts = { id: 'bench', startedAt: 0, filters: { kernel: true, user: true, idle: false } };
    const times = [];
    let profile;
    for (let r = 0; r <= RUNS; r++) {
      log(`symbolize: run ${r + 1}/${RUNS + 1}${r === 0 ? ' (cold)' : ''}`);
      const t0 = process.hrtime.bigint();
      profile = await symbolize(raw, opts);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    // Sanity: every frame must name one of our functions, and nothing may be lost or merged.
    let named = 0;
    let frames = 0;
    for (const s of profile.samples) for (const f of s.frames) if (f.kind === 'user') { frames++; if (f.name.startsWith('fn_')) named++; }
    if (profile.totalSamples !== SAMPLES) throw new Error(`symbolize: ${profile.totalSamples} samples, expected ${SAMPLES}`);
    return {
      runs: RUNS, functions: fns.length, stacks: STACKS, samples: SAMPLES, records: samples.length,
      frames: [...stacks.values()].reduce((a, s) => a + s.length, 0), mergedStacks: profile.samples.length,
      namedShare: named / frames, coldMs: times[0], warmMs: median(times.slice(1)),
    };
  } finally {
    p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchProfiler(log = console.error) {
  return { overhead: await benchOverhead(log), symbolization: await benchSymbolize(log) };
}

export function profilerMarkdown({ overhead: o, symbolization: s }) {
  const base = o.rows.find((r) => r.tool === 'none').rate;
  const mips = (v) => `${(v / 1e6).toFixed(1)} M`;
  const lines = o.rows.map((r) => `| ${r.name} | ${mips(r.rate)} | ${(r.rate / base).toFixed(3)}× | ${r.tool === 'none' ? '' : `${(r.cpu * 100).toFixed(1)}%`} |`);
  const bccLine = o.bccError
    ? `bcc profile: could not run: ${o.bccError}`
    : `bcc's \`profile\` (\`${BCC} -F HZ -p PID -f\`, Debian's bpfcc-tools) compiled against ${o.bccHeaders ? `\`${o.bccHeaders}\` (merged into one tree for \`BCC_KERNEL_SOURCE\`)` : o.bccSource ? `\`BCC_KERNEL_SOURCE=${o.bccSource}\`` : 'the running kernel\'s headers'}.`;
  const us = (ms) => `${((ms * 1e6) / s.stacks).toFixed(0)} ns`;
  return `## CPU profiler: overhead and symbolization

Command: \`npm run bench\` (section \`bench/profiler.mjs\`; alone: \`node bench/profiler.mjs\`).

**Overhead.** A C loop of integer work (\`-O2\`, pinned with \`taskset -c 0\`) counts iterations for
${o.seconds} s alone (baseline), then while a profiler samples its pid. Each measurement starts only once
the profiler holds its perf events (one per CPU), so bcc's start-up compilation is not counted. Runs
are interleaved; medians of ${o.runs}. Profiler CPU is its on-CPU time (schedstat) during the
measurement, as a share of one CPU; on 2 CPUs it mostly runs on the other core.

| configuration | iterations/s | ratio to baseline | profiler CPU |
|---|---|---|---|
${lines.join('\n')}

${bccLine} bcc is not part of the project's setup; to get its rows on Debian 12:
\`apt-get install -y --no-install-recommends bpfcc-tools\` and a close kernel's headers,
\`apt-get install -y --no-install-recommends linux-headers-6.12.107+deb12-amd64\` (it also pulls in the matching
\`linux-image\` package and an initramfs; the bench merges the newest \`/usr/src/linux-headers-*-amd64\` with its
\`-common\` into one tree for \`BCC_KERNEL_SOURCE\`, unless that is set).

**Symbolization.** A RawProfile of ${(s.samples / 1e6).toFixed(0)}M samples (${s.records / 1000}k sample records, two threads per
stack) over ${s.stacks / 1000}k distinct user stacks, 3 to 32 frames deep (${(s.frames / 1e6).toFixed(2)}M pcs), every pc inside one of
${s.functions} functions of a real PIE binary that runs during the bench (its real \`/proc/PID/maps\`),
through \`symbolize()\`. The first run parses the ELF file (cached afterwards); warm is the median
of the ${s.runs} runs after it. ${(s.namedShare * 100).toFixed(1)}% of frames were named; ${s.mergedStacks} stacks after merging.

| run | time | per unique stack |
|---|---|---|
| first (cold ELF cache) | ${s.coldMs.toFixed(0)} ms | ${us(s.coldMs)} |
| warm | ${s.warmMs.toFixed(0)} ms | ${us(s.warmMs)} |
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(profilerMarkdown(await benchProfiler()));
}
