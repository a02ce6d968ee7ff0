// Main-thread handle of one exporter: its slot on a shared exporter thread (thread.ts), a
// bounded count of batches handed over and not completed, the answers to the module's
// synchronous calls, its deadlines, and quarantine with exponential backoff followed by a
// restart. Nothing here waits on the thread: a slow or stuck module costs its own events
// (counted), never the pipeline's or the HTTP server's time, and is stopped alone at its deadline.
import { BpfwasmError, type ErrorCode } from '../../errors.js';
import type { QuarantineReason } from '../../logs/events.js';
import { Errno, LogLevel } from '../abi.js';
import type { Exporter, ExporterHost, RuntimeLimits } from './limits.js';
import {
  BatchStatus, CTL_BYTES, CTL_RPC, CTL_RPC_TEXT_LEN, CTL_RPC_VALUE, CTL_TEXT_BYTES,
  CTL_TEXT_OFFSET, Phase, type Flush, type FromWorker, type RpcRequest, type SlotInit,
} from '../protocol.js';
import type { DropReason, ExporterSeries, ExporterState } from './self-metrics.js';
import { ExporterStats } from './exporter-stats.js';
import { SeriesSink } from './sink.js';
import { ExporterThread, type SlotOwner } from './thread.js';

const encoder = new TextEncoder();

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

export class IsolatedExporter implements Exporter, SlotOwner {
  subscriptions: readonly number[] = [];
  canForget = false;
  state: ExporterState = 'loading';
  /** This version's counters; each update also updates its name's /metrics series. */
  readonly stats: ExporterStats;

  ctl = new Int32Array(new SharedArrayBuffer(0));
  since = new Float64Array(new SharedArrayBuffer(0));
  private text = new Uint8Array(new SharedArrayBuffer(0));
  private thread: ExporterThread | undefined;
  private slot = 0;
  private appliedSeq = 0;
  /** Events of each batch handed over and not completed, oldest first from `head`: results come back in order. */
  private queuedCounts: number[] = [];
  private head = 0;
  /** Batches and events handed over and not completed: the queue bound and the abort count. */
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
  /** Loading again after its thread was lost through no fault of its own: not a restart. */
  private reloading = false;
  private readonly sink: SeriesSink;

  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
    private readonly host: ExporterHost,
    private readonly limits: RuntimeLimits,
    private readonly metrics: ExporterSeries,
    private readonly role: InstanceRole = {},
  ) {
    this.sink = new SeriesSink(name, host.store, role.extraLabel);
    this.stats = new ExporterStats(metrics);
    if (!role.silent) metrics.state('loading');
  }

  get batches(): number { return this.stats.batches; }
  get events(): number { return this.stats.events; }
  get dropped(): Readonly<Record<DropReason, number>> { return this.stats.dropped; }
  get errors(): number { return this.stats.errors; }
  get traps(): number { return this.stats.traps; }
  get timeouts(): number { return this.stats.timeouts; }
  get crashes(): number { return this.stats.crashes; }
  get restarts(): number { return this.stats.restarts; }
  get rejectedOps(): number { return this.stats.rejectedOps; }
  get rejectedCalls(): number { return this.stats.rejectedCalls; }
  get logsDropped(): number { return this.stats.logsDropped; }
  get lastError(): string { return this.stats.lastError; }
  get memoryBytes(): number { return this.stats.memoryBytes; }

  get batchTimeoutMs(): number {
    return this.limits.batchTimeoutMs;
  }

  get initTimeoutMs(): number {
    return this.limits.initTimeoutMs;
  }

  /** A version loaded beside the running one takes over its name's state series (see InstanceRole.silent). */
  adopt(): void {
    this.role.silent = false;
    this.metrics.state(this.state);
  }

  /** Loads the module in a slot of an exporter thread; rejects with a BpfwasmError naming the module if it cannot run. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.starting = { resolve, reject };
      this.spawn();
    });
  }

  /** Hands one batch to the thread (a copy into its ring), or drops it and counts why. Never blocks. */
  onBatch(recordType: number, payload: Uint8Array, count: number): void {
    // Results waiting in shared memory first: the queue bound and the state judge this batch.
    this.thread?.settle();
    const thread = this.thread;
    if (thread === undefined || (this.state !== 'loaded' && this.state !== 'shadow')) {
      this.stats.drop('not_running', count);
      return;
    }
    if (this.queuedBatches >= this.limits.queueBatches) {
      this.stats.drop('queue_full', count);
      return;
    }
    thread.batch(this.slot, recordType, payload, count);
    this.queuedCounts.push(count);
    this.queuedBatches++;
    this.queuedEvents += count;
    this.metrics.set(this.metrics.queued, this.queuedBatches);
  }

  /** Resolves once every batch handed over so far has completed (or was dropped). */
  flush(): Promise<void> {
    this.thread?.settle();
    if (this.queuedBatches === 0) return Promise.resolve();
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.thread?.answerSoon();
    return idle;
  }

  get pending(): boolean {
    return this.queuedBatches !== 0 || this.forgetWaiter !== undefined || this.state === 'loading';
  }

  get awaited(): boolean {
    return this.idleWaiters.length !== 0;
  }

  /**
   * Removes idle series: the module forgets them (bpfwasm_forget), then the store frees them.
   * A series a batch touched since the host looked stays. False if the module cannot forget.
   */
  async forget(storeIds: readonly number[]): Promise<boolean> {
    // No settle here: the caller chose the idle ids from the store as applied then (appliedSeq); results applied now could
    // advance appliedSeq past a batch that touched one of them, and the module would forget a live series.
    const thread = this.thread;
    if (!this.canForget || thread === undefined || this.state !== 'loaded' || this.forgetWaiter) return false;
    const ids = this.sink.localIds(storeIds);
    if (ids.length === 0) return true;
    const done = new Promise<boolean>((resolve) => (this.forgetWaiter = resolve));
    // Batches handed over before this call run before the forget (the thread drains its ring first).
    thread.forget(this.slot, ids, this.appliedSeq);
    return done;
  }

  /** Stops the exporter for good. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.detach('aborted');
  }

  /** Its current phase overran its deadline: stop it alone (its thread carries on with the others). */
  overran(phase: number): void {
    this.stats.stopped('timeout');
    if (phase === Phase.INIT) {
      this.fail('EXPORTER_INIT', `${this.name}: loading did not finish within ${this.limits.initTimeoutMs} ms (exporters.initTimeoutMs); its call was stopped`, 'timeout');
    } else {
      const what = phase === Phase.BATCH ? 'bpfwasm_on_batch' : 'bpfwasm_forget';
      this.fail('EXPORTER_INIT', `${this.name}: ${what} did not return within ${this.limits.batchTimeoutMs} ms (exporters.batchTimeoutMs); its call was stopped`, 'timeout');
    }
  }

  /** Its thread is gone: the culprit is quarantined as a crash; the others load again at once, having lost only their batches in flight. */
  threadLost(culprit: boolean, why: string): void {
    this.thread = undefined;
    if (culprit || this.starting) {
      this.stats.stopped('crash');
      this.fail('EXPORTER_INIT', `${this.name}: ${why}`, 'crash');
      return;
    }
    this.detach('aborted');
    this.host.log(this.name, LogLevel.WARN, `exporter reloaded: ${why}`);
    this.reloading = true;
    if (!this.closed) this.spawn();
  }

  private spawn(): void {
    const control = new SharedArrayBuffer(CTL_BYTES);
    this.ctl = new Int32Array(control, 0, 8);
    this.since = new Float64Array(control, 0, 8);
    this.text = new Uint8Array(control, CTL_TEXT_OFFSET, CTL_TEXT_BYTES);
    const options = this.host.store.options;
    const init: SlotInit = {
      name: this.name,
      bytes: this.bytes,
      limits: {
        maxSeriesPerOwner: options.maxSeriesPerOwner, maxSeriesPerMetric: options.maxSeriesPerMetric,
        maxLabelValueBytes: options.maxLabelValueBytes,
      },
      settings: this.host.settings?.(this.name) ?? {},
      seed: this.sink.seed(),
      maxBatchBytes: this.host.maxBatchBytes,
      maxMemoryPages: this.limits.maxMemoryPages,
      batchTimeoutMs: this.limits.batchTimeoutMs,
      initTimeoutMs: this.limits.initTimeoutMs,
      control,
    };
    this.appliedSeq = 0;
    this.setState('loading');
    const thread = ExporterThread.acquire(this.role.builtin ? 'builtin' : 'user', this.limits.threads);
    this.thread = thread;
    this.slot = thread.load(this, init);
  }

  onMessage(m: FromWorker): void {
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
        } else if (this.reloading) {
          this.reloading = false;
        } else {
          this.stats.restarted();
          this.host.log(this.name, LogLevel.INFO, `exporter restarted (restart ${this.restarts})`);
        }
        break;
      case 'failed':
        if (m.timeout) this.overran(Phase.INIT);
        else this.fail(m.code as ErrorCode, m.message, 'load_failed');
        break;
      case 'forgotten': {
        this.apply(m.flush);
        if (m.timeout) {
          this.overran(Phase.FORGET);
          break;
        }
        if (m.trapped) this.stats.failed('trap');
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

  onResults(seq: number, statuses: readonly number[], seconds: readonly number[], flush: Flush): void {
    this.appliedSeq = seq;
    this.apply(flush);
    const maxTraps = this.limits.maxConsecutiveTraps;
    let events = 0;
    let done = 0;
    let trapStorm = false;
    let timedOut = false;
    for (let b = 0; b < statuses.length; b++) {
      const status = statuses[b];
      if (status === BatchStatus.TIMEOUT) {
        timedOut = true;
        break;
      }
      const count = this.queuedCounts[this.head++]!;
      events += count;
      done++;
      this.stats.batch(count, seconds[b]!);
      if (status === BatchStatus.TRAP) {
        this.stats.failed('trap');
        this.consecutiveTraps++;
        // The storm is judged batch by batch, as if each had come back alone.
        if (this.consecutiveTraps === maxTraps) trapStorm = true;
      } else {
        this.consecutiveTraps = 0;
        if (status === BatchStatus.ERROR) this.stats.failed('returned_error');
      }
    }
    // Reclaim the consumed front of the queue now and then, not per batch.
    if (this.head > 1024 && this.head * 2 > this.queuedCounts.length) {
      this.queuedCounts.splice(0, this.head);
      this.head = 0;
    }
    this.queuedBatches -= done;
    this.queuedEvents -= events;
    if (timedOut) {
      this.overran(Phase.BATCH);
      return;
    }
    if (trapStorm) {
      this.fail('EXPORTER_INIT', `${this.name}: trapped in ${maxTraps} batches in a row (last: ${this.lastError})`, 'trap');
      return;
    }
    this.metrics.set(this.metrics.queued, this.queuedBatches);
    if (this.queuedBatches === 0) this.wakeIdle();
  }

  /** Applies a worker's flush to the store and to this exporter's counters. */
  private apply(flush: Flush): void {
    const overflow = this.sink.apply(flush);
    const rejectedOps = flush.rejectedOps + overflow.overflowed;
    this.stats.flushed(rejectedOps, flush.rejectedCalls, flush.logsDropped, flush.memoryBytes);
    if (flush.lastError) this.stats.lastError = flush.lastError;
    if (overflow.why) this.stats.lastError = overflow.why;
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
   * The instance can no longer be trusted (load failure, deadline overrun, crash, trap storm):
   * stop and drop it. While loading for the first time that fails the load; later it quarantines
   * the exporter and schedules a restart after an exponential backoff.
   */
  private fail(code: ErrorCode, why: string, reason: QuarantineReason): void {
    this.stats.lastError = why;
    this.detach('aborted');
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
    // Reported once, through the host: the collector logs it as the `exporter_quarantined` event.
    this.host.quarantined({ exporter: this.name, reason, detail: why, retryAt: Date.now() + delay, retryInMs: delay });
    this.restartTimer = setTimeout(() => {
      if (!this.closed) this.spawn();
    }, delay);
    this.restartTimer.unref();
  }

  /** Leaves the current slot: batches handed over and not completed are lost and counted, waiters released. */
  private detach(reason: DropReason): void {
    this.thread?.unload(this.slot);
    this.thread = undefined;
    this.consecutiveTraps = 0;
    const lost = this.queuedEvents;
    this.queuedCounts = [];
    this.head = 0;
    this.queuedBatches = 0;
    this.queuedEvents = 0;
    if (lost) this.stats.drop(reason, lost);
    this.metrics.set(this.metrics.queued, 0);
    this.wakeIdle();
    const waiter = this.forgetWaiter;
    this.forgetWaiter = undefined;
    waiter?.(false);
  }

  private setState(state: ExporterState): void {
    this.state = state;
    if (!this.role.silent) this.metrics.state(state);
  }

  private wakeIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
