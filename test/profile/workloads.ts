// CPU-burning processes with a known split of time between named functions, for the
// flamegraph end-to-end tests (test/integration/flamegraph*.test.ts).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Each 20 ms of the thread's own CPU time goes 15 ms to burn_a and 5 ms to burn_b: a 75/25 split
// that preemption cannot skew, because the slices are measured in CPU time, not wall time.
const BURN_C = `
#include <time.h>
static volatile unsigned long sink;
static long cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}
__attribute__((noinline)) void burn_a(long us) {
  long end = cpu_us() + us;
  while (cpu_us() < end) for (int i = 0; i < 20000; i++) sink += i;
}
__attribute__((noinline)) void burn_b(long us) {
  long end = cpu_us() + us;
  while (cpu_us() < end) for (int i = 0; i < 20000; i++) sink += i;
}
int main(void) {
  for (;;) {
    burn_a(15000);
    burn_b(5000);
  }
}
`;

// The same 3:1 split in JavaScript. Calls through a table so neither function is inlined into the loop.
const BURN_JS = `
let sink = 0;
function cpuMs() { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }
function hotAlphaWork(ms) { const end = cpuMs() + ms; while (cpuMs() < end) for (let i = 0; i < 20000; i++) sink += i; }
function hotBetaWork(ms) { const end = cpuMs() + ms; while (cpuMs() < end) for (let i = 0; i < 20000; i++) sink += i; }
const table = [[hotAlphaWork, 15], [hotBetaWork, 5]];
for (;;) for (const [fn, ms] of table) fn(ms);
`;

export interface Workload {
  proc: ChildProcess;
  pid: number;
  stop(): void;
}

function start(cmd: string, args: string[], cwd: string): Workload {
  // Pinned to CPU 0: one busy thread on one CPU gives hz × seconds samples. V8 writes its logs to cwd.
  const proc = spawn('taskset', ['-c', '0', cmd, ...args], { stdio: 'ignore', cwd });
  const pid = proc.pid!;
  return {
    proc,
    pid,
    stop: () => {
      proc.kill('SIGKILL');
      rmSync(`/tmp/perf-${pid}.map`, { force: true }); // node never deletes its perf map
    },
  };
}

/** Compiles and starts the C workload (taskset execs it, so the pid is the workload's). */
/** `prefix` runs it through a wrapper (e.g. setpriv to start it with fewer capabilities). */
export function startBurnC(prefix: string[] = []): Workload {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-burn-'));
  writeFileSync(join(dir, 'burn.c'), BURN_C);
  const exe = join(dir, 'burn');
  execFileSync('cc', ['-O1', '-fno-omit-frame-pointer', '-o', exe, join(dir, 'burn.c')]);
  return prefix.length ? start(prefix[0]!, [...prefix.slice(1), exe], dir) : start(exe, [], dir);
}

/** Starts the Node.js workload with a perf map, so its JS frames can be named. */
export function startBurnNode(): Workload {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-burn-js-'));
  const script = join(dir, 'burn.js');
  writeFileSync(script, BURN_JS);
  return start(process.execPath, ['--perf-basic-prof', '--interpreted-frames-native-stack', '--no-turbo-inlining', script], dir);
}

/** Folded stacks (`a;b;c count` lines) → stack frames and counts. */
export function parseFolded(text: string): { frames: string[]; count: number }[] {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const sp = line.lastIndexOf(' ');
    return { frames: line.slice(0, sp).split(';'), count: Number(line.slice(sp + 1)) };
  });
}

/** Share (0–100) of samples whose stack has a frame matching `match`, and the total. */
export function share(stacks: { frames: string[]; count: number }[], match: (frame: string) => boolean): number {
  const total = stacks.reduce((n, s) => n + s.count, 0);
  const hits = stacks.filter((s) => s.frames.some(match)).reduce((n, s) => n + s.count, 0);
  return (100 * hits) / total;
}

// What `python3 -X perf` (3.12+) does, without a 3.12 here (Debian 12 ships 3.11): code in
// anonymous executable memory, named in /tmp/perf-PID.map by the line CPython's
// PyUnstable_WritePerfMapEntry prints ("%" PRIxPTR " %x %s\n", names "py::FUNC:FILE"). The
// trampoline keeps the frame-pointer chain, as CPython's does, and spins.
const PERF_TRAMPOLINE_C = String.raw`
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__x86_64__)
static const unsigned char code[] = { 0x55, 0x48, 0x89, 0xe5, 0xeb, 0xfe }; /* push rbp; mov rbp,rsp; jmp . */
#elif defined(__aarch64__)
static const unsigned int code[] = { 0xa9bf7bfd, 0x910003fd, 0x14000000 }; /* stp x29,x30,[sp,-16]!; mov x29,sp; b . */
#endif
int main(void) {
  unsigned char *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 1;
  memcpy(mem + 64, code, sizeof code);
  __builtin___clear_cache((char *)mem, (char *)mem + 4096);
  char path[64];
  snprintf(path, sizeof path, "/tmp/perf-%d.map", getpid());
  FILE *map = fopen(path, "w");
  if (!map) return 2;
  fprintf(map, "%" PRIxPTR " %x %s\n", (uintptr_t)mem, 64u, "py::trampoline_cold:/srv/app/worker.py");
  fprintf(map, "%" PRIxPTR " %x %s\n", (uintptr_t)(mem + 64), (unsigned)sizeof code, "py::hot_loop:/srv/app/worker.py");
  fflush(map);
  ((void (*)(void))(mem + 64))();
  return 0;
}
`;

/** A process running JIT code named the way `python3 -X perf` names it (see PERF_TRAMPOLINE_C). */
export function startPerfTrampoline(): Workload {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-pyperf-'));
  writeFileSync(join(dir, 'trampoline.c'), PERF_TRAMPOLINE_C);
  const exe = join(dir, 'trampoline');
  execFileSync('cc', ['-O1', '-fno-omit-frame-pointer', '-o', exe, join(dir, 'trampoline.c')]);
  return start(exe, [], dir);
}
