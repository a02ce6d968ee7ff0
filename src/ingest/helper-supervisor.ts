// Runs the native helper as a child process: streams its stdout to the decoder, turns its
// stderr into log lines, and restarts it with exponential backoff when it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Exit codes after which a restart cannot help (ebpf/PROTOCOL.md): bad usage, no BTF, no privileges. */
export const FATAL_EXIT_CODES = new Set([1, 2, 3]);
/** A required sensor failed (or setup after the sensors): fatal while start-up never got to READY. */
export const EXIT_SENSOR_FAILED = 4;

export interface SupervisorOptions {
  path: string;
  args: string[];
  onData(chunk: Buffer): void;
  /** The helper's stream ended (exit, crash): the decoder should drop any partial frame. */
  onStreamEnd(): void;
  onStderr(line: string): void;
  /** Called on every exit; `willRestart` says whether a restart is scheduled. */
  onExit(code: number | null, signal: NodeJS.Signals | null, willRestart: boolean): void;
  onSpawn(pid: number): void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A helper that stayed up this long resets the backoff. */
  stableAfterMs?: number;
}

export class HelperSupervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private startedAt = 0;
  restarts = 0;
  /** Set when the helper exited with a fatal code; the supervisor then stops trying. */
  fatal: { code: number; message: string } | undefined;
  private lastStderr = '';
  /** Some helper reached READY: from then on a failure is retried, not fatal to start-up. */
  private everReady = false;

  constructor(private readonly opts: SupervisorOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The helper said READY. */
  markReady(): void {
    this.everReady = true;
  }

  start(): void {
    this.stopping = false;
    this.spawnHelper();
  }

  private spawnHelper(): void {
    this.timer = undefined;
    const child = spawn(this.opts.path, this.opts.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    child.stdout!.on('data', (chunk: Buffer) => this.opts.onData(chunk));
    child.stdin!.on('error', () => { /* the helper exiting first closes the pipe; its exit is reported below */ });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.lastStderr = line;
      this.opts.onStderr(line);
    });
    child.on('spawn', () => this.opts.onSpawn(child.pid!));
    child.on('error', (err) => {
      // spawn failures (ENOENT, EACCES) never produce 'exit'; treat them as fatal.
      this.fatal = { code: -1, message: `cannot start helper ${this.opts.path}: ${err.message}` };
      this.opts.onExit(null, null, false);
    });
    child.on('close', (code, signal) => {
      this.opts.onStreamEnd();
      if (this.child === child) this.child = undefined;
      if (this.fatal) return; // a spawn failure, already reported by 'error'
      if (this.stopping) {
        this.opts.onExit(code, signal, false);
        return;
      }
      if (code !== null && (FATAL_EXIT_CODES.has(code) || (code === EXIT_SENSOR_FAILED && !this.everReady))) {
        this.fatal = { code, message: this.lastStderr || `helper exited with code ${code}` };
        this.opts.onExit(code, signal, false);
        return;
      }
      const stable = Date.now() - this.startedAt >= (this.opts.stableAfterMs ?? 60_000);
      this.failures = stable ? 1 : this.failures + 1;
      const min = this.opts.minBackoffMs ?? 250;
      const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, min * 2 ** (this.failures - 1));
      this.opts.onExit(code, signal, true);
      this.restarts++;
      this.timer = setTimeout(() => this.spawnHelper(), delay);
    });
  }

  /** Stops the helper: stdin EOF first, SIGTERM if it lingers, SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.stdin!.end();
    const term = setTimeout(() => child.kill('SIGTERM'), Math.min(500, graceMs / 2));
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await closed;
    clearTimeout(term);
    clearTimeout(kill);
  }

  /** Test and chaos hook: kill the running helper as a crash would. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }
}
