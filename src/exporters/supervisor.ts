// Main-thread handle of one exporter: its worker, a bounded queue of batches in flight, the
// answers to the worker's synchronous calls, the watchdog deadline, and quarantine with
// exponential backoff followed by a restart. Nothing here waits on the worker: a slow or
// stuck module costs its own events (counted), never the pipeline's or the HTTP server's time.
// A message round trip costs the main thread tens of µs whatever its size, so batches that
// arrive while a message is in flight wait in one buffer and go together in the next message
// (Nagle-style: a batch that finds the worker idle is posted at once).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BpfwasmError, type ErrorCode } from '../errors.js';
import type { QuarantineEvent } from '../logs/events.js';
import { Errno, LogLevel } from './abi.js';
import {
  BATCH_FIELDS, BatchStatus, CTL_BYTES, CTL_PHASE, CTL_RPC, CTL_RPC_TEXT_LEN, CTL_RPC_VALUE, CTL_SINCE_F64, CTL_TEXT_BYTES,
  CTL_TEXT_OFFSET, Phase, epochMs, type Flush, type FromWorker, type RpcRequest, type ToWorker, type WorkerInit,
} from './protocol.js';
import type { Exporter, ExporterHost, RuntimeLimits } from './runtime.js';
import type { DropReason, ExporterSeries, ExporterState } from './self-metrics.js';
import { compileExporter } from './instance.js';
import { SeriesSink } from './sink.js';

const encoder = new TextEncoder();
/** Pending batches are posted once they hold this much, even with a message in flight, to bound a message's size and run time. */
const MESSAGE_BYTES = 1 << 20;
/** Smallest message buffer allocated: one helper frame (helper.batchBytes, 64 KiB by default) fits. */
const BUFFER_MIN_BYTES = 64 << 10;
/** Message buffers the worker handed back, kept for reuse: a fresh one costs page faults (~1 µs per KiB on a VM). */
const SPARE_BUFFERS = 2;
const NO_BYTES: Uint8Array<ArrayBuffer> = new Uint8Array(0);

/** How an instance stands beside others of its name. */
export interface InstanceRole {
  /** A shadow candidate: state `shadow` once running (its host store is the shadow store). */
  readonly shadow?: boolean;
  /** See SeriesSink: a label added to everything the module declares. */
  readonly extraLabel?: readonly [string, string];
  /** Loading beside the running version: leaves the name's state series alone until adopted. */
  silent?: boolean;
  /** The collector's own shipped module: may name its catalogued log events (src/logs/events.ts). */
  readonly builtin?: boolean;
}

export class IsolatedExporter implements Exporter {
  subscriptions: readonly number[] = [];
  canForget = false;
  state: ExporterState = 'loading';
  batches = 0;
  events = 0;
  errors = 0;
  traps = 0;
  timeouts = 0;
  crashes = 0;
  restarts = 0;
  rejectedOps = 0;
  rejectedCalls = 0;
  logsDropped = 0;
  lastError = '';
  memoryBytes = 0;
  readonly dropped: Record<DropReason, number> = { queue_full: 0, not_running: 0, aborted: 0 };

  private worker: Worker | undefined;
  private ctl = new Int32Array(new SharedArrayBuffer(0));
  private since = new Float64Array(new SharedArrayBuffer(0));
  private text = new Uint8Array(new SharedArrayBuffer(0));
  private seq = 0;
  private appliedSeq = 0;
  /** Messages posted and not answered, oldest first: BATCH_FIELDS numbers per batch (type, count, bytes). */
  private inflight: number[][] = [];
  /** Batches waiting for the message in flight: their payloads back to back, and their fields. */
  private pending = NO_BYTES;
  private pendingBytes = 0;
  private pendingBatches: number[] = [];
  private spare: ArrayBuffer[] = [];
  /** Batches and events handed over and not completed, in flight or pending: the queue bound and the abort count. */
  private queuedBatches = 0;
  private queuedEvents = 0;
  private idleWaiters: (() => void)[] = [];
  private forgetWaiter: ((ok: boolean) => void) | undefined;
  private starting: { resolve(): void; reject(e: Error): void } | undefined;
  private consecutiveTraps = 0;
  private backoffLevel = 0;
  private loadedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly sink: SeriesSink;
  /** The module compiled once for all of this version's workers; undefined: each worker compiles it. */
  private module: WebAssembly.Module | undefined;

  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
    private readonly host: ExporterHost,
    private readonly limits: RuntimeLimits,
    private readonly metrics: ExporterSeries,
    private readonly role: InstanceRole = {},
  ) {
    this.sink = new SeriesSink(name, host.store, role.extraLabel);
    if (!role.silent) metrics.state('loading');
  }

  /** A version loaded beside the running one takes over its name's state series (see InstanceRole.silent). */
  adopt(): void {
    this.role.silent = false;
    this.metrics.state(this.state);
  }

  /** Loads the module in a fresh worker; rejects with a BpfwasmError naming the module if it cannot run. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.starting = { resolve, reject };
      // Compiled once (by V8, off this thread) for every worker this version gets: each worker
      // compiling it again cost 20-80 ms per start and restart. Within the init deadline, else
      // (or on a compile error) the worker compiles it and reports as it always has.
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<undefined>((done) => {
        timer = setTimeout(() => done(undefined), this.limits.initTimeoutMs);
      });
      void Promise.race([compileExporter(this.name, this.bytes, this.limits.maxMemoryPages).catch(() => undefined), deadline])
        .then((module) => {
          clearTimeout(timer);
          this.module = module;
          if (!this.closed) this.spawn();
        });
    });
  }

  /** Hands one batch to the worker (a copy), or drops it and counts why. Never blocks. */
  onBatch(recordType: number, payload: Uint8Array, count: number): void {
    const worker = this.worker;
    if (worker === undefined || (this.state !== 'loaded' && this.state !== 'shadow')) {
      this.drop('not_running', count);
      return;
    }
    if (this.queuedBatches >= this.limits.queueBatches) {
      this.drop('queue_full', count);
      return;
    }
    const bytes = payload.byteLength;
    if (this.inflight.length === 0) {
      // A copy the worker may own (payload may be a Buffer view into the decoder's memory, whose
      // slice() would not copy).
      const copy = this.buffer(bytes);
      copy.set(payload);
      this.postBatches(worker, copy.buffer, [recordType, count, bytes]);
    } else {
      if (this.pendingBytes + bytes > MESSAGE_BYTES) this.postPending(worker);
      this.append(recordType, payload, count);
    }
    this.queuedBatches++;
    this.queuedEvents += count;
    this.metrics.set(this.metrics.queued, this.queuedBatches);
  }

  /** Resolves once every batch handed over so far has completed (or was dropped). */
  flush(): Promise<void> {
    if (this.queuedBatches === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Removes idle series: the module forgets them (bpfwasm_forget), then the store frees them.
   * A series a batch touched since the host looked stays. False if the module cannot forget.
   */
  async forget(storeIds: readonly number[]): Promise<boolean> {
    const worker = this.worker;
    if (!this.canForget || worker === undefined || this.state !== 'loaded' || this.forgetWaiter) return false;
    const ids = this.sink.localIds(storeIds);
    if (ids.length === 0) return true;
    const done = new Promise<boolean>((resolve) => (this.forgetWaiter = resolve));
    // Batches handed over before this call run before the forget, as they would one message each.
    this.postPending(worker);
    this.post(worker, { t: 'forget', ids, appliedSeq: this.appliedSeq });
    return done;
  }

  /** Stops the worker for good. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    this.detach('aborted');
    if (worker) await worker.terminate();
  }

  /** Watchdog: terminates the worker if its current phase overran its deadline. */
  check(now: number): void {
    if (this.worker === undefined || this.ctl.length === 0) return;
    const phase = Atomics.load(this.ctl, CTL_PHASE);
    if (phase === Phase.IDLE) return;
    const limit = phase === Phase.INIT ? this.limits.initTimeoutMs : this.limits.batchTimeoutMs;
    const elapsed = now - this.since[CTL_SINCE_F64]!;
    if (elapsed <= limit) return;
    this.timeouts++;
    this.metrics.error('timeout');
    if (phase === Phase.INIT) {
      this.fail('EXPORTER_INIT', `${this.name}: loading did not finish within ${this.limits.initTimeoutMs} ms (exporters.initTimeoutMs); its worker was terminated`, 'timeout');
    } else {
      const what = phase === Phase.BATCH ? 'bpfwasm_on_batch' : 'bpfwasm_forget';
      this.fail('EXPORTER_INIT', `${this.name}: ${what} did not return within ${this.limits.batchTimeoutMs} ms (exporters.batchTimeoutMs); its worker was terminated`, 'timeout');
    }
  }

  private spawn(): void {
    const control = new SharedArrayBuffer(CTL_BYTES);
    this.ctl = new Int32Array(control, 0, 8);
    this.since = new Float64Array(control, 0, 8);
    this.text = new Uint8Array(control, CTL_TEXT_OFFSET, CTL_TEXT_BYTES);
    const options = this.host.store.options;
    const init: WorkerInit = {
      name: this.name,
      bytes: this.bytes,
      ...(this.module && { module: this.module }),
      limits: {
        maxSeriesPerOwner: options.maxSeriesPerOwner, maxSeriesPerMetric: options.maxSeriesPerMetric,
        maxLabelValueBytes: options.maxLabelValueBytes,
      },
      settings: this.host.settings?.(this.name) ?? {},
      seed: this.sink.seed(),
      maxBatchBytes: this.host.maxBatchBytes,
      maxMemoryPages: this.limits.maxMemoryPages,
      control,
    };
    const worker = new Worker(workerUrl(), { workerData: init, stdout: false, stderr: false });
    worker.unref();
    this.worker = worker;
    this.seq = 0;
    this.appliedSeq = 0;
    this.setState('loading');
    worker.on('message', (m: FromWorker) => {
      if (worker === this.worker) this.onMessage(m);
    });
    worker.on('error', (e) => {
      if (worker !== this.worker) return;
      this.crashes++;
      this.metrics.error('crash');
      this.fail('EXPORTER_INIT', `${this.name}: its worker died: ${e.message}`, 'crash');
    });
    worker.on('exit', (code) => {
      if (worker !== this.worker) return;
      this.crashes++;
      this.metrics.error('crash');
      this.fail('EXPORTER_INIT', `${this.name}: its worker exited with code ${code}`, 'crash');
    });
    watchdog.add(this);
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'rpc':
        this.answer(m.req);
        break;
      case 'log':
        this.host.log(this.name, m.level, m.msg, m.fields, this.role.builtin === true);
        break;
      case 'ready':
        this.apply(m.flush);
        this.subscriptions = m.subscriptions;
        this.canForget = m.canForget;
        this.loadedAt = Date.now();
        this.setState(this.role.shadow ? 'shadow' : 'loaded');
        if (this.starting) {
          this.starting.resolve();
          this.starting = undefined;
        } else {
          this.restarts++;
          this.metrics.add(this.metrics.restarts, 1);
          this.host.log(this.name, LogLevel.INFO, `exporter restarted (restart ${this.restarts})`);
        }
        break;
      case 'failed':
        this.fail(m.code as ErrorCode, m.message, 'load_failed');
        break;
      case 'flush':
        this.apply(m.flush);
        break;
      case 'done':
        this.recycle(m.payload);
        this.onDone(m.seq, m.statuses, m.seconds, m.flush);
        break;
      case 'forgotten': {
        this.apply(m.flush);
        if (m.trapped) {
          this.traps++;
          this.metrics.error('trap');
        }
        const freed = this.sink.release(m.ids);
        this.host.store.free(freed);
        this.metrics.add(this.metrics.expired, freed.length);
        const waiter = this.forgetWaiter;
        this.forgetWaiter = undefined;
        waiter?.(!m.trapped);
        break;
      }
    }
  }

  private onDone(seq: number, statuses: readonly number[], seconds: readonly number[], flush: Flush): void {
    const batches = this.inflight.shift();
    if (batches === undefined) return;
    this.appliedSeq = seq;
    this.apply(flush);
    const maxTraps = this.limits.maxConsecutiveTraps;
    let events = 0;
    let trapStorm = false;
    for (let b = 0; b < statuses.length; b++) {
      const count = batches[b * BATCH_FIELDS + 1]!;
      events += count;
      this.metrics.batch(count, seconds[b]!);
      const status = statuses[b];
      if (status === BatchStatus.TRAP) {
        this.traps++;
        this.consecutiveTraps++;
        this.metrics.error('trap');
        // The storm is judged batch by batch, as if each had come back alone.
        if (this.consecutiveTraps === maxTraps) trapStorm = true;
      } else {
        this.consecutiveTraps = 0;
        if (status === BatchStatus.ERROR) {
          this.errors++;
          this.metrics.error('returned_error');
        }
      }
    }
    this.batches += statuses.length;
    this.events += events;
    this.queuedBatches -= statuses.length;
    this.queuedEvents -= events;
    if (trapStorm) {
      this.fail('EXPORTER_INIT', `${this.name}: trapped in ${maxTraps} batches in a row (last: ${this.lastError})`, 'trap');
      return;
    }
    if (this.worker !== undefined) this.postPending(this.worker);
    this.metrics.set(this.metrics.queued, this.queuedBatches);
    if (this.queuedBatches === 0) this.wakeIdle();
  }

  /** Posts one message of batches; `batches` holds BATCH_FIELDS numbers per batch, kept to account for them when answered. */
  private postBatches(worker: Worker, payload: ArrayBuffer, batches: number[]): void {
    this.inflight.push(batches);
    const seq = this.seq + 1;
    this.seq += batches.length / BATCH_FIELDS;
    this.post(worker, { t: 'batches', seq, batches, payload }, [payload]);
  }

  /** Posts the pending batches, if any, as one message. */
  private postPending(worker: Worker): void {
    if (this.pendingBatches.length === 0) return;
    const payload = this.pending.buffer;
    const batches = this.pendingBatches;
    this.pending = NO_BYTES;
    this.pendingBytes = 0;
    this.pendingBatches = [];
    this.postBatches(worker, payload, batches);
  }

  /** Copies a batch behind the pending ones, growing their buffer by doubling. */
  private append(recordType: number, payload: Uint8Array, count: number): void {
    const bytes = payload.byteLength;
    const needed = this.pendingBytes + bytes;
    if (needed > this.pending.byteLength) {
      const grown = this.buffer(Math.max(needed, Math.min(2 * this.pending.byteLength, MESSAGE_BYTES)));
      grown.set(this.pending.subarray(0, this.pendingBytes));
      if (this.pending.byteLength > 0) this.recycle(this.pending.buffer);
      this.pending = grown;
    }
    this.pending.set(payload, this.pendingBytes);
    this.pendingBytes = needed;
    this.pendingBatches.push(recordType, count, bytes);
  }

  /** Applies a worker's flush to the store and to this exporter's counters. */
  private apply(flush: Flush): void {
    const overflow = this.sink.apply(flush);
    const rejectedOps = flush.rejectedOps + overflow.overflowed;
    this.rejectedOps += rejectedOps;
    this.rejectedCalls += flush.rejectedCalls;
    this.logsDropped += flush.logsDropped;
    this.metrics.error('rejected_update', rejectedOps);
    this.metrics.error('rejected_call', flush.rejectedCalls);
    this.metrics.add(this.metrics.logsDropped, flush.logsDropped);
    if (flush.lastError) this.lastError = flush.lastError;
    if (overflow.why) this.lastError = overflow.why;
    if (flush.memoryBytes !== this.memoryBytes) {
      this.memoryBytes = flush.memoryBytes;
      this.metrics.set(this.metrics.memory, flush.memoryBytes);
    }
  }

  /** Answers a synchronous call of the worker, which waits on the control block. */
  private answer(req: RpcRequest): void {
    let value: number;
    let text: string | undefined;
    const store = this.host.store;
    if (req.op === 'declare') {
      try {
        value = store.declare(this.name, this.sink.declared(req.spec));
      } catch (e) {
        if (!(e instanceof BpfwasmError)) throw e;
        value = e.code === 'METRIC_CONFLICT' ? Errno.ECONFLICT : Errno.EINVAL;
        text = e.message;
      }
    } else {
      text = this.host.resolve?.(req.kind, req.id);
      value = text === undefined ? Errno.ENOTFOUND : 0;
    }
    let len = -1;
    if (text !== undefined) {
      const r = encoder.encodeInto(text, this.text);
      len = r.written;
    }
    Atomics.store(this.ctl, CTL_RPC_VALUE, value);
    Atomics.store(this.ctl, CTL_RPC_TEXT_LEN, len);
    Atomics.store(this.ctl, CTL_RPC, 1);
    Atomics.notify(this.ctl, CTL_RPC);
  }

  /**
   * The worker can no longer be trusted (load failure, deadline overrun, crash, trap storm):
   * terminate it. While loading for the first time that fails the load; later it quarantines
   * the exporter and schedules a restart after an exponential backoff.
   */
  private fail(code: ErrorCode, why: string, reason: QuarantineEvent['reason']): void {
    const worker = this.worker;
    this.lastError = why;
    this.detach('aborted');
    void worker?.terminate();
    if (this.starting) {
      this.setState('failed');
      this.starting.reject(new BpfwasmError(code, why));
      this.starting = undefined;
      return;
    }
    if (this.closed) return;
    if (this.loadedAt && Date.now() - this.loadedAt > this.limits.quarantineMaxMs) this.backoffLevel = 0;
    const delay = Math.min(this.limits.quarantineBaseMs * 2 ** this.backoffLevel, this.limits.quarantineMaxMs);
    this.backoffLevel++;
    this.loadedAt = 0;
    this.setState('quarantined');
    // A structured event (`exporter_quarantined`), so it reaches Loki with its own label.
    const event: QuarantineEvent = { exporter: this.name, reason, detail: why, retryAt: Date.now() + delay, retryInMs: delay };
    if (this.host.quarantined) this.host.quarantined(event);
    else this.host.log(this.name, LogLevel.ERROR, `exporter quarantined for ${delay} ms (${reason}): ${why}`);
    this.restartTimer = setTimeout(() => {
      if (!this.closed) this.spawn();
    }, delay);
    this.restartTimer.unref();
  }

  /** A message buffer of at least `min` bytes: a spare one if one is large enough. */
  private buffer(min: number): Uint8Array<ArrayBuffer> {
    const spare = this.spare;
    for (let i = 0; i < spare.length; i++) {
      const b = spare[i]!;
      if (b.byteLength < min) continue;
      spare[i] = spare[spare.length - 1]!;
      spare.pop();
      return new Uint8Array(b);
    }
    return new Uint8Array(Math.max(min, BUFFER_MIN_BYTES));
  }

  /** Keeps a message buffer for reuse, the largest SPARE_BUFFERS of them. */
  private recycle(b: ArrayBuffer): void {
    const spare = this.spare;
    if (spare.length < SPARE_BUFFERS) {
      spare.push(b);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < spare.length; i++) if (spare[i]!.byteLength < spare[smallest]!.byteLength) smallest = i;
    if (spare[smallest]!.byteLength < b.byteLength) spare[smallest] = b;
  }

  /** Forgets the current worker: batches in flight or pending are lost and counted, waiters released. */
  private detach(reason: DropReason): void {
    watchdog.delete(this);
    this.worker = undefined;
    this.consecutiveTraps = 0;
    const lost = this.queuedEvents;
    this.inflight = [];
    this.pending = NO_BYTES;
    this.pendingBytes = 0;
    this.pendingBatches = [];
    this.spare = [];
    this.queuedBatches = 0;
    this.queuedEvents = 0;
    if (lost) this.drop(reason, lost);
    this.metrics.set(this.metrics.queued, 0);
    this.wakeIdle();
    const waiter = this.forgetWaiter;
    this.forgetWaiter = undefined;
    waiter?.(false);
  }

  private drop(reason: DropReason, events: number): void {
    this.dropped[reason] += events;
    this.metrics.dropped(reason, events);
  }

  private setState(state: ExporterState): void {
    this.state = state;
    if (!this.role.silent) this.metrics.state(state);
  }

  private wakeIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private post(worker: Worker, m: ToWorker, transfer: ArrayBuffer[] = []): void {
    worker.postMessage(m, transfer);
  }
}

/** One timer checks every running exporter's deadline. */
class Watchdog {
  private readonly exporters = new Set<IsolatedExporter>();
  private timer: NodeJS.Timeout | undefined;

  add(e: IsolatedExporter): void {
    this.exporters.add(e);
    if (this.timer) return;
    this.timer = setInterval(() => {
      const now = epochMs();
      for (const x of this.exporters) x.check(now);
    }, WATCHDOG_INTERVAL_MS);
    this.timer.unref();
  }

  delete(e: IsolatedExporter): void {
    this.exporters.delete(e);
    if (this.exporters.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** How often deadlines are checked: an overrun is caught within this much of its deadline. */
const WATCHDOG_INTERVAL_MS = 10;
const watchdog = new Watchdog();

/**
 * The worker script: worker.js beside this file in the built tree; from sources (the test
 * runner) the bundle named by BPFWASM_EXPORTER_WORKER.
 */
function workerUrl(): URL {
  const own = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(own))) return own;
  const bundled = process.env.BPFWASM_EXPORTER_WORKER;
  if (bundled) return pathToFileURL(bundled);
  throw new BpfwasmError('EXPORTER_LOAD', `exporter worker script not found at ${fileURLToPath(own)}; run \`npm run build\``);
}
