// Runs the native helper as a child process: hands its stdout to the decoder, turns its
// stderr into log lines, and restarts it with exponential backoff when it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FRAME_HEADER_SIZE, MAX_FRAME_PAYLOAD } from './protocol.js';

/**
 * Bytes read from the helper per read(2): two of its largest frames, so a stream's frame comes in
 * one read and one callback, not stitched from many (a page is touched only once a read fills it).
 */
export const READ_BUFFER_BYTES = 2 * (FRAME_HEADER_SIZE + MAX_FRAME_PAYLOAD);

/** Exit codes after which a restart cannot help (ebpf/PROTOCOL.md): bad usage, no BTF, no privileges. */
export const FATAL_EXIT_CODES = new Set([1, 2, 3]);
/** A required sensor failed (or setup after the sensors): fatal while start-up never got to READY. */
export const EXIT_SENSOR_FAILED = 4;

export interface SupervisorOptions {
  path: string;
  args: string[];
  /** Bytes from the helper's stdout, in a buffer reused by the next read: only valid during the call. */
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
  /** Every read of the helper's stdout lands here: no Buffer and no stream chunk per read. */
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private reader: Socket | undefined;
  /** While set, the helper's frames wait in its socket (holdFrames). */
  private held = false;
  /** Resolves once the running helper has exited and its output has all been handed on. */
  private closed: Promise<void> | undefined;

  constructor(private readonly opts: SupervisorOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The helper said READY. */
  markReady(): void {
    this.everReady = true;
  }

  /**
   * Starts the helper. With `holdFrames`, its frames are not read until `releaseFrames()`: it
   * can load its sensors while the caller gets ready for them (they wait in the socket).
   * Resolves once the helper is spawned.
   */
  start(holdFrames = false): Promise<void> {
    this.stopping = false;
    this.held = holdFrames;
    return this.spawnHelper();
  }

  releaseFrames(): void {
    this.held = false;
    this.reader?.resume();
  }

  /**
   * A connected unix socket pair: the helper writes to one end as its stdout, and the other is
   * read with net's `onread` into `readBuffer`. The rendezvous is in a fresh 0700 directory,
   * so no other user can connect in between.
   */
  private async outputSocket(): Promise<{ helperEnd: Socket; reader: Socket }> {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-helper-'));
    const server = createServer();
    try {
      const path = join(dir, 'out.sock');
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
      const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
      const reader = createConnection({
        path,
        onread: {
          buffer: this.readBuffer,
          callback: (n) => {
            this.opts.onData(this.readBuffer.subarray(0, n));
            return true;
          },
        },
      });
      const helperEnd = await accepted;
      helperEnd.pause(); // the helper writes it; this process never reads it
      return { helperEnd, reader };
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private async spawnHelper(): Promise<void> {
    this.timer = undefined;
    const { helperEnd, reader } = await this.outputSocket();
    if (this.stopping) {
      helperEnd.destroy();
      reader.destroy();
      return;
    }
    const child = spawn(this.opts.path, this.opts.args, { stdio: ['pipe', helperEnd, 'pipe'] });
    helperEnd.destroy(); // the helper has its own copy: its exit is the end of the stream
    this.child = child;
    this.reader = reader;
    if (this.held) reader.pause();
    this.startedAt = Date.now();
    // The exit is handled once the output is read to its end, so no frame comes after it.
    const drained = new Promise<void>((resolve) => reader.once('close', () => resolve()));
    reader.on('error', () => { /* a reset ends the stream like EOF; the exit says why */ });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])));
    this.closed = Promise.all([exited, drained]).then(([[code, signal]]) => this.onClose(child, code, signal));
    child.stdin!.on('error', () => { /* the helper exiting first closes the pipe; its exit is reported below */ });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.lastStderr = line;
      this.opts.onStderr(line);
    });
    child.on('spawn', () => this.opts.onSpawn(child.pid!));
    child.on('error', (err) => {
      // spawn failures (ENOENT, EACCES) never produce 'exit'; treat them as fatal.
      this.fatal = { code: -1, message: `cannot start helper ${this.opts.path}: ${err.message}` };
      reader.destroy();
      this.opts.onExit(null, null, false);
    });
  }

  private onClose(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.opts.onStreamEnd();
    if (this.child === child) {
      this.child = undefined;
      this.reader = undefined;
    }
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
    this.timer = setTimeout(() => void this.spawnHelper(), delay);
  }

  /** Stops the helper: stdin EOF first, SIGTERM if it lingers, SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const closed = this.closed;
    this.releaseFrames(); // its last frames are read, or it could block writing them
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
