// Takes one CPU profile on demand: runs the helper in profile mode, collects its frames into
// a RawProfile and symbolizes it. Limits how many profiles sample at once.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { createInterface } from 'node:readline';
import { BpfwasmError } from '../errors.js';
import { FrameDecoder } from '../ingest/frame-decoder.js';
import { FrameKind, PROFILE_SAMPLE_SIZE } from '../ingest/protocol.js';
import type { Profile, ProfileFilters, RawProfile } from './model.js';
import { symbolize as realSymbolize } from './symbolize/index.js';

export interface ProfileRequest {
  hz: number;
  seconds: number;
  /** Only this process (a TGID). */
  pid?: number;
  /** Only this cgroup v2: a path relative to /sys/fs/cgroup, or its numeric id. */
  cgroup?: string;
  kernel: boolean;
  user: boolean;
  idle: boolean;
}

export type ProfilePhase = 'sampling' | 'symbolizing';

export interface ProfilerOptions {
  helperPath: string;
  maxConcurrent: number;
  symbolize?: typeof realSymbolize;
  procRoot?: string;
  cgroupRoot?: string;
  /** Extra time past `seconds` before a silent helper is killed. */
  graceMs?: number;
}

/** PROFILE_DONE (ebpf/PROTOCOL.md, "Profile mode"). */
interface DoneMessage {
  hz: number;
  seconds: number;
  duration_ms: number;
  ncpus: number;
  samples: number;
  stack_errors: { kernel_missing: number; user_missing: number; lost: number; other: number };
  stopped_early?: boolean;
}

export interface RunOptions {
  onProgress?: (phase: ProfilePhase) => void;
  /** The profile's id; a new UUID when absent. */
  id?: string;
  /** Aborted: stop sampling now and keep what was sampled (Ctrl-C in `bpfwasm profile`). */
  finish?: AbortSignal;
}

const MAX_CGROUP_ID = 2n ** 64n - 1n;

export class Profiler {
  /** End time (ms since the epoch) of every profile running, for Retry-After. */
  private readonly running = new Set<{ endsAt: number }>();
  /** Aborted by `close`: every running profile stops, and no new one starts. */
  private readonly closing = new AbortController();
  /** Resolved when the last running profile has ended. */
  private idle: (() => void)[] = [];
  private readonly symbolize: typeof realSymbolize;
  private readonly procRoot: string;
  private readonly cgroupRoot: string;

  constructor(private readonly opts: ProfilerOptions) {
    this.symbolize = opts.symbolize ?? realSymbolize;
    this.procRoot = opts.procRoot ?? '/proc';
    this.cgroupRoot = opts.cgroupRoot ?? '/sys/fs/cgroup';
  }

  /** Seconds until the first running profile ends (at least 1); 0 when none runs. */
  retryAfterSeconds(): number {
    if (this.running.size === 0) return 0;
    const first = Math.min(...[...this.running].map((r) => r.endsAt));
    return Math.max(1, Math.ceil((first - Date.now()) / 1000));
  }

  /** Stops every running profile (each fails with PROFILE_INTERRUPTED) and resolves once all have ended. */
  async close(): Promise<void> {
    this.closing.abort();
    if (this.running.size > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  async run(req: ProfileRequest, signal: AbortSignal, onProgress?: (phase: ProfilePhase) => void, opts: Omit<RunOptions, 'onProgress'> = {}): Promise<Profile> {
    if (this.closing.signal.aborted) throw interrupted();
    if (this.running.size >= this.opts.maxConcurrent) {
      const wait = this.retryAfterSeconds();
      throw new BpfwasmError('PROFILER_BUSY', `a profile is already running; retry in ${wait} s`, { retryAfterSeconds: wait });
    }
    const args = this.helperArgs(req);
    const slot = { endsAt: Date.now() + req.seconds * 1000 };
    this.running.add(slot);
    try {
      const startedAt = Date.now();
      const raw = await this.sample(args, req, signal, onProgress, opts.finish);
      onProgress?.('symbolizing');
      const filters: ProfileFilters = { kernel: req.kernel, user: req.user, idle: req.idle };
      if (req.pid !== undefined) filters.pid = req.pid;
      if (req.cgroup !== undefined) filters.cgroup = req.cgroup;
      return await this.symbolize(raw, { id: opts.id ?? randomUUID(), startedAt, filters });
    } finally {
      this.running.delete(slot);
      if (this.running.size === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /** Checks the target exists before anything is spawned, and builds the command line. */
  private helperArgs(req: ProfileRequest): string[] {
    const args = ['--profile', '--hz', String(req.hz), '--seconds', String(req.seconds)];
    if (req.pid !== undefined) {
      if (!existsSync(join(this.procRoot, String(req.pid)))) {
        throw new BpfwasmError('PROFILE_NO_PROCESS', `no process with pid ${req.pid} (nothing at ${this.procRoot}/${req.pid})`);
      }
      args.push('--pid', String(req.pid));
    }
    if (req.cgroup !== undefined) args.push('--cgroup', this.cgroupId(req.cgroup));
    if (!req.kernel) args.push('--no-kernel');
    if (!req.user) args.push('--no-user');
    if (req.idle) args.push('--include-idle');
    return args;
  }

  /** A cgroup v2 id is the inode number of its directory: a u64 the helper parses as one. */
  private cgroupId(cgroup: string): string {
    if (/^\d+$/.test(cgroup)) {
      const id = BigInt(cgroup);
      if (id === 0n || id > MAX_CGROUP_ID) {
        throw new BpfwasmError('PROFILE_INVALID', `a cgroup id must be from 1 to ${MAX_CGROUP_ID}, got ${cgroup}`);
      }
      return String(id);
    }
    const rel = normalize(cgroup.replace(/^\/+/, ''));
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new BpfwasmError('PROFILE_INVALID', `cgroup must be a path under ${this.cgroupRoot} or a cgroup id, got ${JSON.stringify(cgroup)}`);
    }
    const path = join(this.cgroupRoot, rel);
    try {
      const st = statSync(path, { bigint: true });
      if (!st.isDirectory()) throw new Error('not a directory');
      return String(st.ino);
    } catch {
      throw new BpfwasmError('PROFILE_NO_CGROUP', `no cgroup ${JSON.stringify(cgroup)} (nothing at ${path})`);
    }
  }

  private sample(args: string[], req: ProfileRequest, signal: AbortSignal, onProgress?: (phase: ProfilePhase) => void, finish?: AbortSignal): Promise<RawProfile> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(aborted());
        return;
      }
      const raw = new RawCollector();
      let done: DoneMessage | undefined;
      let failure: Error | undefined;
      const decoder = new FrameDecoder({
        events: () => {},
        stats: () => {},
        control: (kind, message) => {
          if (kind === 'hello') onProgress?.('sampling');
          else if (kind === 'profile_done') done = message as DoneMessage;
        },
        profile: (kind, payload, count) => {
          try {
            raw.add(kind, payload, count);
          } catch (err) {
            failure ??= err as Error;
          }
        },
      });
      const child = spawn(this.opts.helperPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let lastStderr = '';
      child.stdout.on('data', (chunk: Buffer) => decoder.push(chunk));
      child.stdin.on('error', () => { /* the helper exiting first closes the pipe; its exit is reported below */ });
      createInterface({ input: child.stderr }).on('line', (line) => { if (line.trim()) lastStderr = line; });

      let killTimer: NodeJS.Timeout | undefined;
      const stop = (why: Error) => {
        failure ??= why;
        child.kill('SIGTERM');
        killTimer ??= setTimeout(() => child.kill('SIGKILL'), 3000);
      };
      const onAbort = () => stop(aborted());
      const onClose = () => stop(interrupted());
      // SIGUSR1: the helper stops sampling and still writes its result (PROTOCOL.md).
      const onFinish = () => child.kill('SIGUSR1');
      signal.addEventListener('abort', onAbort, { once: true });
      finish?.addEventListener('abort', onFinish, { once: true });
      this.closing.signal.addEventListener('abort', onClose, { once: true });
      // A helper that neither finishes nor dies must not hold the profiler slot forever.
      const watchdog = setTimeout(
        () => stop(new BpfwasmError('PROFILE_FAILED', `the helper did not finish ${req.seconds} s of sampling in time`)),
        req.seconds * 1000 + (this.opts.graceMs ?? 30_000),
      );
      const cleanup = () => {
        clearTimeout(watchdog);
        clearTimeout(killTimer);
        signal.removeEventListener('abort', onAbort);
        finish?.removeEventListener('abort', onFinish);
        this.closing.signal.removeEventListener('abort', onClose);
      };

      child.on('error', (err) => {
        // Spawn failures (ENOENT, EACCES) never produce 'close' with an exit code.
        cleanup();
        reject(new BpfwasmError('HELPER_MISSING', `cannot start helper ${this.opts.helperPath}: ${err.message}`));
      });
      child.on('close', (code, sig) => {
        cleanup();
        decoder.end();
        if (failure) return reject(failure);
        if (code !== 0) {
          const how = code === null ? `was killed by ${sig}` : `exited with code ${code}`;
          return reject(new BpfwasmError('PROFILE_FAILED', `profile helper ${how}${lastStderr ? `: ${lastStderr}` : ''}`));
        }
        if (!done) return reject(new BpfwasmError('PROFILE_FAILED', 'profile helper exited without PROFILE_DONE'));
        const c = decoder.counters;
        if (c.malformed + c.truncated + c.lostFrames > 0) {
          return reject(new BpfwasmError('PROFILE_FAILED', `profile helper output was damaged (${JSON.stringify(c)})`));
        }
        resolve(raw.finish(done));
      });
    });
  }
}

function aborted(): BpfwasmError {
  return new BpfwasmError('PROFILE_ABORTED', 'the client went away, so sampling was stopped');
}

function interrupted(): BpfwasmError {
  return new BpfwasmError('PROFILE_INTERRUPTED', 'the collector is shutting down, so sampling was stopped', { retryAfterSeconds: 5 });
}

/** Accumulates PROFILE_SAMPLES, PROFILE_STACKS and PROCESS_MAPS payloads. */
export class RawCollector {
  private readonly samples: RawProfile['samples'] = [];
  private readonly stacks = new Map<number, bigint[]>();
  private readonly maps = new Map<number, string>();

  add(kind: number, payload: Uint8Array, count: number): void {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    if (kind === FrameKind.PROFILE_SAMPLES) this.addSamples(payload, view, count);
    else if (kind === FrameKind.PROFILE_STACKS) this.addStacks(view, count);
    else if (kind === FrameKind.PROCESS_MAPS) this.addMaps(payload, view);
  }

  private addSamples(payload: Uint8Array, view: DataView, count: number): void {
    for (let i = 0; i < count; i++) {
      const o = i * PROFILE_SAMPLE_SIZE;
      const comm = payload.subarray(o + 24, o + 40);
      const nul = comm.indexOf(0);
      this.samples.push({
        tgid: view.getUint32(o, true),
        pid: view.getUint32(o + 4, true),
        kernelStackId: view.getInt32(o + 8, true),
        userStackId: view.getInt32(o + 12, true),
        count: Number(view.getBigUint64(o + 16, true)),
        comm: Buffer.from(nul === -1 ? comm : comm.subarray(0, nul)).toString('utf8'),
      });
    }
  }

  private addStacks(view: DataView, count: number): void {
    let o = 0;
    for (let i = 0; i < count; i++) {
      if (o + 8 > view.byteLength) throw new BpfwasmError('PROFILE_FAILED', 'PROFILE_STACKS frame ends inside a record header');
      const id = view.getInt32(o, true);
      const depth = view.getUint32(o + 4, true);
      o += 8;
      if (o + depth * 8 > view.byteLength) throw new BpfwasmError('PROFILE_FAILED', `PROFILE_STACKS record ${id} overruns its frame`);
      const ips: bigint[] = new Array<bigint>(depth);
      for (let d = 0; d < depth; d++) ips[d] = view.getBigUint64(o + d * 8, true);
      o += depth * 8;
      this.stacks.set(id, ips);
    }
    if (o !== view.byteLength) throw new BpfwasmError('PROFILE_FAILED', 'PROFILE_STACKS frame has bytes after its last record');
  }

  private addMaps(payload: Uint8Array, view: DataView): void {
    if (view.byteLength < 8) throw new BpfwasmError('PROFILE_FAILED', 'PROCESS_MAPS frame is shorter than its header');
    const tgid = view.getUint32(0, true);
    // The first snapshot wins: it was taken while the process was surely alive.
    if (!this.maps.has(tgid)) this.maps.set(tgid, Buffer.from(payload.subarray(8)).toString('utf8'));
  }

  finish(done: DoneMessage): RawProfile {
    const e = done.stack_errors;
    return {
      hz: done.hz,
      seconds: done.seconds,
      durationMs: done.duration_ms,
      ncpus: done.ncpus,
      samples: this.samples,
      stacks: this.stacks,
      maps: this.maps,
      stackErrors: { kernelMissing: e.kernel_missing, userMissing: e.user_missing, lost: e.lost, other: e.other },
      ...(done.stopped_early && { stoppedEarly: true }),
    };
  }
}
