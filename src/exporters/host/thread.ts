// Main-thread side of the exporter threads: a small pool of workers (exporters.threads), each
// running several exporters (slots), each slot in its own WebAssembly instance. Batches go
// through a shared-memory ring (ring.ts), never a message per batch, and their results come back
// through a second one (results.ts), read when the main thread is awake anyway: before the next
// batch, before anything reads the store or the exporters' status (settleExporterThreads), or by
// the watchdog; what must be prompt still comes as a message. A slot's code stops itself at its
// deadline (its fuel check throws, fuel.ts, and the TIMEOUT comes as a message). One watchdog
// timer is the backstop for code no fuel check reaches: a slot past its deadline is stopped; if
// its thread still has not come back HARD_GRACE_MS later, the thread is terminated and the other
// slots on it are loaded again on a fresh one. The same timer reads results nobody else read.
// It is set only while some slot has work handed over and not answered (a slot's code runs only
// then): an idle collector is never woken for it, and a stream at most once per RESULTS_MAX_WAIT_MS.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BpfwasmError } from '../../errors.js';
import { V8_FLAGS } from '../../v8-flags.js';
import {
  CTL_PHASE, CTL_SINCE_F64, CTL_STOP, Phase, SIG_ANSWER, SIG_APPLIED, SIGNALS_BYTES, epochMs, type Flush, type FromWorker, type SlotInit,
  type ThreadInit, type ToWorker,
} from '../protocol.js';
import { ResultsReader } from '../results.js';
import { ringBuffer, ringMaxPayload, RingReader, RingWriter, type RingEntry } from '../ring.js';

/** What a thread needs of the exporter in one of its slots. */
export interface SlotOwner {
  readonly ctl: Int32Array;
  readonly since: Float64Array;
  /** Deadlines of the slot's phases. */
  readonly batchTimeoutMs: number;
  readonly initTimeoutMs: number;
  /** Work handed to its thread not answered yet (a load, batches, a forget): only then can its code run. */
  readonly pending: boolean;
  /** A caller waits for those results (flush()): the thread is asked to answer its wake-ups with a message. */
  readonly awaited: boolean;
  /** Everything the thread said about this slot but its results. */
  onMessage(m: FromWorker): void;
  /** Its batches' results up to `seq`, in order; the arguments are valid during the call only. */
  onResults(seq: number, statuses: readonly number[], seconds: readonly number[], flush: Flush): void;
  /** Its current phase overran its deadline (first seen by the watchdog). */
  overran(phase: number): void;
  /** The thread died or was terminated: `culprit` when this slot's code was running. */
  threadLost(culprit: boolean, why: string): void;
}

/** Past a deadline by this much before the watchdog's check (timers fire late, never early). */
const WATCHDOG_SLACK_MS = 1;
/** How long a thread may take to stop a slot's code after its deadline before it is terminated. */
const HARD_GRACE_MS = 1000;
/** Ring data bytes: a few of the helper's largest frames (1 MiB) per wake-up; more wait in `overflow`. */
const RING_BYTES = 4 << 20;
/** Results ring data bytes: a wake-up's results are a few hundred bytes per slot; more than half of this goes as a message. */
const RESULTS_BYTES = 256 << 10;
/**
 * Longest results wait unread in the results ring, and the watchdog's look after a batch is handed
 * over: one main-thread wake-up a second at most during a stream. Every reader settles first anyway,
 * and a batch's deadline is kept by its own fuel check; a look per batchTimeoutMs (250 ms) woke the
 * main thread 2.5 times a second in an exec storm, and a results timer refreshed per batch once more.
 */
const RESULTS_MAX_WAIT_MS = 1000;

let nextSlot = 1;
/** Threads of each pool; a thread ends with its last slot. */
const pools = new Map<string, ExporterThread[]>();
/** Told of every thread the watchdog terminates (each loses its slots' in-flight batches and reloads them). */
const terminationListeners = new Set<() => void>();

/** Applies every exporter thread's results waiting in shared memory: called by whatever reads the store or the exporters' status. */
export function settleExporterThreads(): void {
  for (const pool of pools.values()) for (const t of pool) t.settle();
}

/**
 * Until wakeExporterThreads(), batches handed over do not wake their sleeping threads: the
 * frames of one read of the helper's socket wake each thread once, not once per frame.
 */
export function holdExporterWakeups(): void {
  for (const pool of pools.values()) for (const t of pool) t.holdWakeup();
}

/** Wakes once each sleeping thread that got batches since holdExporterWakeups(). */
export function wakeExporterThreads(): void {
  for (const pool of pools.values()) for (const t of pool) t.wakeHeld();
}

/** Calls `listener` on every watchdog termination of a thread until the returned function is called. */
export function onThreadTerminated(listener: () => void): () => void {
  terminationListeners.add(listener);
  return () => terminationListeners.delete(listener);
}

export class ExporterThread {
  readonly slots = new Map<number, SlotOwner>();
  private readonly worker: Worker;
  private readonly ring: RingWriter;
  private readonly maxPayload: number;
  private readonly results: RingReader;
  private readonly resultsReader: ResultsReader;
  private readonly applyResults: RingEntry;
  /** Int32 words SIG_* shared with the thread. */
  private readonly signals: Int32Array;
  private settling = false;
  /** Batches the ring had no room for, and messages behind them, in order: sent as the thread frees room. */
  private overflow: ([slot: number, recordType: number, count: number, payload: Uint8Array] | ToWorker)[] = [];
  private ended = false;

  /**
   * A thread of pool `group` (of `size` threads) with the fewest slots, started if the pool is
   * not full. The built-in exporters have a pool of their own: a slow user module delays only
   * the user modules beside it.
   */
  static acquire(group: string, size: number): ExporterThread {
    let pool = pools.get(group);
    if (pool === undefined) pools.set(group, (pool = []));
    if (pool.length < Math.max(1, size)) {
      const t = new ExporterThread(pool);
      pool.push(t);
      return t;
    }
    return pool.reduce((a, b) => (b.slots.size < a.slots.size ? b : a));
  }

  private constructor(private readonly pool: ExporterThread[]) {
    const ring = ringBuffer(RING_BYTES);
    this.ring = new RingWriter(ring);
    this.maxPayload = ringMaxPayload(ring);
    const results = ringBuffer(RESULTS_BYTES);
    this.results = new RingReader(results);
    this.resultsReader = new ResultsReader(results);
    this.applyResults = (slot, _type, batches, payload) => {
      const r = this.resultsReader.read(payload, batches);
      this.slots.get(slot)?.onResults(r.seq, r.statuses, r.seconds, r.flush);
    };
    const signals = new SharedArrayBuffer(SIGNALS_BYTES);
    this.signals = new Int32Array(signals);
    const init: ThreadInit = { ring, results, signals, ...(V8_FLAGS && { v8Flags: V8_FLAGS }) };
    const worker = new Worker(workerUrl(), { workerData: init, stdout: false, stderr: false });
    worker.unref();
    this.worker = worker;
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (e) => this.lost(`its worker died: ${e.message}`));
    worker.on('exit', (code) => this.lost(`its worker exited with code ${code}`));
  }

  /** Starts loading a module in a new slot; its answers go to `owner`. */
  load(owner: SlotOwner, init: SlotInit): number {
    const slot = nextSlot++;
    this.slots.set(slot, owner);
    watchdog.add(this, Math.min(owner.batchTimeoutMs, owner.initTimeoutMs));
    this.post({ t: 'load', slot, init });
    return slot;
  }

  /** Hands a batch to a slot (a copy); never blocks. Its owner settles first (this applies no results: the owner is mid-count). */
  batch(slot: number, recordType: number, payload: Uint8Array, count: number): void {
    if (payload.byteLength > this.maxPayload) throw new BpfwasmError('EXPORTER_LOAD', `a batch of ${payload.byteLength} bytes is larger than the exporter ring takes (${this.maxPayload})`);
    // Its results are read, and its thread looked at, within this (one compare while the timer is set).
    watchdog.armWithin(RESULTS_MAX_WAIT_MS);
    if (this.overflow.length === 0 && this.ring.put(slot, recordType, count, payload)) return;
    this.overflow.push([slot, recordType, count, payload.slice()]);
    // Ask for a message once the thread frees room, then look again: it may have freed it just before it read the request.
    Atomics.store(this.signals, SIG_ANSWER, 1);
    this.flushOverflow();
  }

  holdWakeup(): void {
    this.ring.hold();
  }

  wakeHeld(): void {
    this.ring.release();
  }

  /** Applies the results the thread left in the results ring, in order; one atomic load when there are none. */
  settle(): void {
    if (this.settling) return;
    this.settling = true;
    try {
      this.results.drain(this.applyResults);
    } finally {
      this.settling = false;
    }
  }

  /** A caller waits for results: ask the thread for a message after its wake-ups, then look once more (it may have finished just before). */
  answerSoon(): void {
    Atomics.store(this.signals, SIG_ANSWER, 1);
    this.settle();
  }

  /** The slot forgets these ids once every batch handed to it before has run. */
  forget(slot: number, ids: readonly number[], appliedSeq: number): void {
    const m: ToWorker = { t: 'forget', slot, ids, appliedSeq };
    watchdog.armWithin(this.slots.get(slot)?.batchTimeoutMs ?? 0);
    if (this.overflow.length === 0) this.post(m);
    else this.overflow.push(m);
  }

  /** Stops a slot for good: its code throws at its next fuel check and its instance is dropped. */
  unload(slot: number): void {
    const owner = this.slots.get(slot);
    if (owner === undefined) return;
    Atomics.store(owner.ctl, CTL_STOP, 1);
    this.slots.delete(slot);
    // Its code must now stop on its own at its next fuel check, or the thread goes.
    if (Atomics.load(owner.ctl, CTL_PHASE) !== Phase.IDLE) this.stopping.set(owner, epochMs());
    if (this.ended) return;
    if (this.slots.size > 0) {
      this.post({ t: 'unload', slot });
      return;
    }
    this.end();
    void this.worker.terminate();
  }

  /** Set by check(): a slot has work handed over and not answered, so its results must be read within RESULTS_MAX_WAIT_MS. */
  workOut = false;

  /**
   * Watchdog: applies the results waiting, stops a slot past its deadline, terminates the thread
   * if one still runs HARD_GRACE_MS later. Returns the next deadline: a running phase's or a
   * stopped slot's grace; Infinity when there is none. Sets workOut while a slot has work pending
   * (a deadline of its own is kept by its fuel check); with none, no deadline can pass before more is handed over.
   */
  check(now: number): number {
    // Batches that completed count as completed, not as lost with a slot stopped now.
    this.settle();
    this.flushOverflow();
    let next = Infinity;
    this.workOut = false;
    for (const owner of this.slots.values()) {
      this.workOut ||= owner.pending;
      const phase = Atomics.load(owner.ctl, CTL_PHASE);
      if (phase === Phase.IDLE) continue;
      const limit = phase === Phase.INIT ? owner.initTimeoutMs : owner.batchTimeoutMs;
      const due = owner.since[CTL_SINCE_F64]! + limit;
      // The owner quarantines itself, which unloads the slot.
      if (now > due) owner.overran(phase);
      else next = Math.min(next, due);
    }
    for (const [owner, at] of this.stopping) {
      if (Atomics.load(owner.ctl, CTL_PHASE) === Phase.IDLE) this.stopping.delete(owner);
      else if (now - at > HARD_GRACE_MS) {
        for (const listener of terminationListeners) listener();
        this.stopping.clear();
        void this.worker.terminate();
        this.lost(`its thread did not stop a module ${HARD_GRACE_MS} ms past its deadline and was terminated`);
        this.workOut = false;
        return Infinity;
      } else next = Math.min(next, at + HARD_GRACE_MS);
    }
    return next;
  }

  /** Slots stopped by the watchdog whose code has not yet returned, and when they were stopped. */
  private readonly stopping = new Map<SlotOwner, number>();

  private onMessage(m: FromWorker): void {
    // Results the thread left in the ring before it posted this come first.
    this.settle();
    if (m.t === 'done') {
      for (const r of m.results) this.slots.get(r.slot)?.onResults(r.seq, r.statuses, r.seconds, r.flush);
      if (m.results.length !== 0) Atomics.add(this.signals, SIG_APPLIED, 1);
      this.flushOverflow();
      this.askForAnswers();
      return;
    }
    this.slots.get(m.slot)?.onMessage(m);
    if (m.t === 'ready' || m.t === 'forgotten') Atomics.add(this.signals, SIG_APPLIED, 1);
  }

  /**
   * Keeps the thread answering its wake-ups with a message while batches wait for ring room or a
   * caller waits for results; after asking, looks once more, as the thread may have finished just before it read the request.
   */
  private askForAnswers(): void {
    let want = this.overflow.length !== 0;
    for (const owner of this.slots.values()) want ||= owner.awaited;
    Atomics.store(this.signals, SIG_ANSWER, want ? 1 : 0);
    if (!want) return;
    this.settle();
    this.flushOverflow();
  }

  /** Moves overflowed batches into the ring while it has room, posting the messages behind them in turn. */
  private flushOverflow(): void {
    let i = 0;
    for (; i < this.overflow.length; i++) {
      const item = this.overflow[i]!;
      if (!Array.isArray(item)) this.post(item);
      else if (!this.ring.put(item[0], item[1], item[2], item[3])) break;
    }
    this.overflow.splice(0, i);
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private end(): void {
    this.ended = true;
    watchdog.delete(this);
    const at = this.pool.indexOf(this);
    if (at >= 0) this.pool.splice(at, 1);
  }

  /** The thread is gone: every slot on it hears why; the one whose code was running is the culprit. */
  private lost(why: string): void {
    if (this.ended) return;
    // What the thread completed before it went counts as completed, as when its answer had come in.
    this.settle();
    if (this.ended) return;
    this.end();
    const owners = [...this.slots.values()];
    this.slots.clear();
    for (const owner of owners) owner.threadLost(Atomics.load(owner.ctl, CTL_PHASE) !== Phase.IDLE, why);
  }
}

/** One timer checks every thread's slots, set for the next moment a deadline can pass. */
class Watchdog {
  private readonly threads = new Set<ExporterThread>();
  private timer: NodeJS.Timeout | undefined;
  /** epochMs() the timer is set for. */
  private due = Infinity;
  /** Clocks that call tick() every RESULTS_MAX_WAIT_MS (the collector's): looks that may wait that long ride on them. */
  private clocks = 0;
  /** A look waits for a clock's next tick. */
  private lookAtTick = false;

  /** A clock's tick: the look waiting for it, if any. */
  tick(): void {
    if (this.lookAtTick) this.check();
  }

  addClock(): void {
    this.clocks++;
  }

  /** A clock stopped: a look that waited for it gets a timer of its own. */
  deleteClock(): void {
    if (--this.clocks > 0 || !this.lookAtTick) return;
    this.lookAtTick = false;
    this.armWithin(RESULTS_MAX_WAIT_MS);
  }

  /** A thread with a new slot: its deadlines count from now at the earliest. */
  add(t: ExporterThread, earliestDeadlineMs: number): void {
    this.threads.add(t);
    this.arm(epochMs() + earliestDeadlineMs);
  }

  delete(t: ExporterThread): void {
    this.threads.delete(t);
    if (this.threads.size === 0) this.disarm();
  }

  /**
   * Work handed over now: look at it `ms` from now at the latest. A timer already set is
   * left alone, never pushed later: Node keeps its native timer at the earliest expiry it was given,
   * so a cleared or refreshed timer still wakes the main thread then, for nothing (it did after most frames of a stream).
   */
  armWithin(ms: number): void {
    if (this.clocks > 0 && ms >= RESULTS_MAX_WAIT_MS) {
      this.lookAtTick = true; // the clock ticks within that: no wake-up of its own
      return;
    }
    const at = epochMs() + ms;
    if (this.due > at) this.arm(at);
  }

  private arm(at: number): void {
    if (this.timer !== undefined && this.due <= at) return;
    this.disarm();
    this.due = at;
    this.timer = setTimeout(() => this.check(), Math.max(0, at - epochMs()) + WATCHDOG_SLACK_MS);
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.due = Infinity;
  }

  private check(): void {
    this.disarm();
    this.lookAtTick = false;
    const now = epochMs();
    let deadline = Infinity;
    let workOut = false;
    for (const t of [...this.threads]) {
      deadline = Math.min(deadline, t.check(now));
      workOut ||= t.workOut;
    }
    // Only the look at work still out may wait for a clock's tick; a deadline (a running phase's, a stopped slot's grace) keeps its time.
    if (workOut) {
      if (this.clocks > 0) this.lookAtTick = true;
      else deadline = Math.min(deadline, now + RESULTS_MAX_WAIT_MS);
    }
    // No next check while no slot has work: handing work over arms the timer again; a thread lost meanwhile armed it for its replacement.
    if (Number.isFinite(deadline)) this.arm(deadline);
  }
}

const watchdog = new Watchdog();

/**
 * For a clock that calls `tick` every second (RESULTS_MAX_WAIT_MS) until `stop`: the watchdog's
 * looks that may wait that long (results nobody read, work still out) ride on its ticks instead
 * of waking the main thread on their own. Deadlines that come sooner keep their own timer.
 */
export function exporterWatchdogClock(): { tick(): void; stop(): void } {
  watchdog.addClock();
  let stopped = false;
  return {
    tick: () => watchdog.tick(),
    stop: () => {
      if (stopped) return;
      stopped = true;
      watchdog.deleteClock();
    },
  };
}

/**
 * The worker script: in the bundle `bpfwasm` runs (scripts/bundle.mjs), exporter-worker.cjs beside
 * this chunk; in tsc's tree, worker/worker.js; from sources (the test runner) the bundle named by
 * BPFWASM_EXPORTER_WORKER.
 */
function workerUrl(): URL {
  const bundled = new URL('./exporter-worker.cjs', import.meta.url);
  if (existsSync(fileURLToPath(bundled))) return bundled;
  const own = new URL('../worker/worker.js', import.meta.url);
  if (existsSync(fileURLToPath(own))) return own;
  const forTests = process.env.BPFWASM_EXPORTER_WORKER;
  if (forTests) return pathToFileURL(forTests);
  throw new BpfwasmError('EXPORTER_LOAD', `exporter worker script not found at ${fileURLToPath(bundled)} nor ${fileURLToPath(own)}; run \`npm run build\``);
}
