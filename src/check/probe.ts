// Runs the helper the ways `bpfwasm check` needs: `--check` for the kernel probes, and each
// sensor on its own (stdin closed: it loads, attaches, says READY and exits) to see it run.
import { spawn } from 'node:child_process';
import { FRAME_HEADER_SIZE, FRAME_MAGIC, FrameKind, type SensorFailure } from '../ingest/protocol.js';

export interface ProbeResult { ok: boolean; errno: number; error: string }

/** What `bpfwasm-helper --check` prints (ebpf/helper/check.c). */
export interface HelperReport {
  helper: string;
  kernel: string;
  libbpf: string;
  cap_eff: string;
  /** kernel.bpf_stats_enabled, -1 if unreadable. */
  bpf_stats_sysctl: number;
  probes: Record<'btf' | 'ringbuf' | 'tp_btf' | 'perf_event' | 'bpf_stats' | 'kprobe', ProbeResult>;
}

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string; spawnError?: Error }

/** Runs `path args` with stdin at EOF, killing it after `timeoutMs`. */
function run(path: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    let spawnError: Error | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', (err) => (spawnError = err));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr, ...(spawnError && { spawnError }) });
    });
  });
}

/** The helper's kernel probes; throws with the reason when the helper cannot give them. */
export async function helperReport(helperPath: string, timeoutMs = 10_000): Promise<HelperReport> {
  const r = await run(helperPath, ['--check'], timeoutMs);
  if (r.spawnError) throw new Error(`cannot run ${helperPath}: ${r.spawnError.message}`);
  if (r.code !== 0) throw new Error(`${helperPath} --check exited ${r.code ?? r.signal}: ${lastLine(r.stderr)}`);
  try {
    return JSON.parse(r.stdout.toString('utf8')) as HelperReport;
  } catch {
    throw new Error(`${helperPath} --check printed no report: is it older than this collector?`);
  }
}

/** Exit codes of the helper (ebpf/PROTOCOL.md), as a reason. */
export const HELPER_EXIT: Record<number, string> = {
  0: 'clean shutdown',
  1: 'bad command line',
  2: 'no kernel BTF',
  3: 'missing privileges',
  4: 'failed to load or attach',
  5: 'output pipe failed',
};

export interface SensorRun {
  /** The helper reached READY with the sensor attached. */
  ok: boolean;
  /** The helper's exit code (null if killed). */
  exitCode: number | null;
  /** Load and attach time from READY, in ms. */
  loadMs?: number;
  attachMs?: number;
  /** The programs HELLO listed. */
  programs: string[];
  /** Why it did not run: the step and first verifier or libbpf error line from READY, else the helper's last stderr line. */
  error?: string;
  /** The hooks it took (or tried), when its adapter says. */
  route?: string;
}

interface Ready {
  load_ms: number;
  attach_ms: number;
  sensors?: string[];
  failed?: SensorFailure[];
  routes?: Record<string, string>;
}

/** The JSON payloads of the HELLO and READY frames in a helper's stdout. */
function helloAndReady(out: Buffer): { hello?: { sensors?: { programs?: string[] }[] }; ready?: Ready } {
  const found: ReturnType<typeof helloAndReady> = {};
  for (let off = 0; off + FRAME_HEADER_SIZE <= out.length;) {
    if (out.readUInt32LE(off) !== FRAME_MAGIC) break;
    const kind = out.readUInt16LE(off + 6);
    const length = out.readUInt32LE(off + 8);
    const payload = out.subarray(off + FRAME_HEADER_SIZE, off + FRAME_HEADER_SIZE + length);
    if (kind === FrameKind.HELLO) found.hello = JSON.parse(payload.toString('utf8')) as typeof found.hello;
    if (kind === FrameKind.READY) found.ready = JSON.parse(payload.toString('utf8')) as typeof found.ready;
    off += FRAME_HEADER_SIZE + length;
  }
  return found;
}

/** Runs the helper with `args` (one sensor) and stdin closed: it loads, attaches, reports READY, exits. */
export async function runSensor(helperPath: string, args: string[], timeoutMs = 15_000): Promise<SensorRun> {
  const r = await run(helperPath, args, timeoutMs);
  if (r.spawnError) return { ok: false, exitCode: null, programs: [], error: `cannot run ${helperPath}: ${r.spawnError.message}` };
  let frames: ReturnType<typeof helloAndReady>;
  try {
    frames = helloAndReady(r.stdout);
  } catch {
    frames = {};
  }
  const programs = frames.hello?.sensors?.[0]?.programs ?? [];
  // A sensor that fails is left off and reported in READY; the helper itself exits 0.
  const failed = frames.ready?.failed?.[0];
  const ok = r.code === 0 && frames.ready !== undefined && !failed && (frames.ready.sensors?.length ?? 0) > 0;
  const run_: SensorRun = { ok, exitCode: r.code, programs };
  if (frames.ready) {
    run_.loadMs = frames.ready.load_ms;
    run_.attachMs = frames.ready.attach_ms;
  }
  const route = failed?.route ?? Object.values(frames.ready?.routes ?? {})[0];
  if (route) run_.route = route;
  if (failed) {
    run_.error = `${failed.step}: ${failed.error} (errno ${failed.errno})`;
  } else if (!ok) {
    const why = r.code === null ? `killed by ${r.signal} after ${timeoutMs} ms` : `exit ${r.code} (${HELPER_EXIT[r.code] ?? 'unknown'})`;
    const line = lastLine(r.stderr);
    run_.error = line ? `${why}: ${line}` : r.code === 0 ? `${why} without READY` : why;
  }
  return run_;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.replace(/^bpfwasm-helper: /, '') ?? '';
}
