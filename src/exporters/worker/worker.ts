// Exporter thread entry: several exporter modules (slots) run here, each in its own
// WebAssembly instance, off the thread that serves HTTP. Batches arrive through the ring
// (ring.ts) and every batch that piled up runs in one wake-up; its results go back through a
// second ring (results.ts) the main thread reads when it is awake anyway, and only what must be
// prompt (a failed batch, a big flush, a full ring, a main thread waiting) as a message. Each
// slot marks its phase in its own control block for the main thread's watchdog, and its code
// throws at the next fuel check (fuel.ts) once past its deadline or stopped by the host, so a
// hung module is stopped alone and the others carry on.
import '../../v8-flags.js'; // first: Node reset V8's flags as this thread started
import { parentPort, workerData } from 'node:worker_threads';
import { BpfwasmError } from '../../errors.js';
import { Errno } from '../abi.js';
import { FUEL_TICKS } from './fuel.js';
import type { HostLink } from './guest-imports.js';
import { DeadlineExceeded, instantiate, message, type ModuleInstance } from './instance.js';
import {
  BatchStatus, CTL_PHASE, CTL_RPC, CTL_RPC_TEXT_LEN, CTL_RPC_VALUE, CTL_SINCE_F64, CTL_STOP, CTL_TEXT_BYTES, CTL_TEXT_OFFSET,
  FLUSH_OPS, Phase, SIG_ANSWER, SIG_APPLIED, type FromWorker, type RpcRequest, type SlotInit, type SlotResults, type ThreadInit,
  type ToWorker,
} from '../protocol.js';
import { putResults } from '../results.js';
import { RingReader, RingWriter } from '../ring.js';

/** Longest the worker waits for the main thread to answer a synchronous call. */
const RPC_TIMEOUT_MS = 10_000;

const port = parentPort!;
const threadInit = workerData as ThreadInit;
const ring = new RingReader(threadInit.ring);
const resultsRing = new RingWriter(threadInit.results);
const signals = new Int32Array(threadInit.signals);
const decoder = new TextDecoder();
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
/** Messages posted that carry results or a flush (see SIG_APPLIED). */
let ordered = 0;
const postOrdered = (m: FromWorker, transfer: ArrayBuffer[]) => {
  ordered = (ordered + 1) | 0; // wraps as the shared Int32 count does
  post(m, transfer);
};
/** Share of the results ring in use past which the main thread is woken to read it. */
const RESULTS_WAKE_FILL = 0.5;

class Slot {
  readonly ctl: Int32Array;
  readonly since: Float64Array;
  readonly text: Uint8Array;
  instance: ModuleInstance | undefined;
  seq = 0;
  /** performance.now() past which the running call is stopped. */
  deadline = Infinity;
  /** Stopped at a deadline: runs nothing more, its remaining batches are skipped. */
  dead = false;
  /** It logged since its results last went back: those go in a message, after the logs, as they always did. */
  logged = false;
  /** This wake-up's results so far (no statuses: none yet); reused from wake-up to wake-up. */
  readonly results: { slot: number; seq: number; statuses: number[]; seconds: number[]; flush: SlotResults['flush'] };
  readonly link: HostLink;

  constructor(readonly id: number, readonly init: SlotInit) {
    this.ctl = new Int32Array(init.control, 0, 8);
    this.since = new Float64Array(init.control, 0, 8);
    this.text = new Uint8Array(init.control, CTL_TEXT_OFFSET, CTL_TEXT_BYTES);
    this.results = { slot: id, seq: 0, statuses: [], seconds: [], flush: undefined! };
    this.link = {
      declare: (spec) => {
        const r = this.rpc({ op: 'declare', spec });
        return r.value >= 0 ? r.value : { code: r.value, why: r.text ?? '' };
      },
      resolve: (kind, id) => {
        const r = this.rpc({ op: 'resolve', kind, id });
        return r.value === 0 ? r.text : undefined;
      },
      log: (level, msg, fields) => {
        this.logged = true;
        post(fields ? { t: 'log', slot: id, level, msg, fields } : { t: 'log', slot: id, level, msg });
      },
    };
  }

  /** Starts a phase the watchdog times; returns performance.now() at its start. */
  enter(phase: number): number {
    const now = performance.now();
    this.since[CTL_SINCE_F64] = performance.timeOrigin + now;
    this.deadline = now + (phase === Phase.INIT ? this.init.initTimeoutMs : this.init.batchTimeoutMs);
    Atomics.store(this.ctl, CTL_PHASE, phase);
    running = this;
    return now;
  }

  leave(): void {
    running = undefined;
    Atomics.store(this.ctl, CTL_PHASE, Phase.IDLE);
  }

  get stopped(): boolean {
    return Atomics.load(this.ctl, CTL_STOP) !== 0;
  }

  /** A synchronous call answered by the main thread; its wait counts against the deadline like the module's own work. */
  private rpc(req: RpcRequest): { value: number; text: string | undefined } {
    Atomics.store(this.ctl, CTL_RPC, 0);
    post({ t: 'rpc', slot: this.id, req });
    const outcome = Atomics.wait(this.ctl, CTL_RPC, 0, RPC_TIMEOUT_MS);
    checkDeadline();
    if (outcome === 'timed-out') return { value: Errno.ESTATE, text: 'the host did not answer' };
    const len = Atomics.load(this.ctl, CTL_RPC_TEXT_LEN);
    return { value: Atomics.load(this.ctl, CTL_RPC_VALUE), text: len < 0 ? undefined : decoder.decode(this.text.slice(0, len)) };
  }

  /** What the main thread has not applied yet, for a message: the operations copied out of the instance's buffer, to transfer. */
  takeFlush(): { flush: SlotResults['flush']; transfer: ArrayBuffer[] } {
    const taken = this.instance!.imports.takeFlush();
    const flush = { ...taken, ops: taken.ops.slice() };
    return { flush, transfer: [flush.ops.buffer] };
  }
}

const slots = new Map<number, Slot>();
/** The slot whose code runs now: the one the fuel check judges. */
let running: Slot | undefined;

/** Throws in the running slot's code once it is past its deadline or stopped by the host. */
function checkDeadline(): void {
  const s = running;
  if (s !== undefined && (performance.now() > s.deadline || s.stopped)) throw new DeadlineExceeded();
}

/** The injected fuel import: the next allowance, or a throw. */
function fuelCheck(): number {
  checkDeadline();
  return FUEL_TICKS;
}

async function load(id: number, init: SlotInit): Promise<void> {
  const slot = new Slot(id, init);
  slots.set(id, slot);
  try {
    // The init deadline starts when the module's own code first runs, after the compile: on a
    // slow CPU several modules compiling at once on one thread took longer than any deadline,
    // and a compile cannot be stopped by a fuel check anyway (its time is bounded by the size cap).
    slot.instance = await instantiate(init.name, init.bytes, slot.link, {
      limits: init.limits, settings: init.settings, seed: init.seed,
      maxBatchBytes: init.maxBatchBytes, maxMemoryPages: init.maxMemoryPages, fuelCheck, enter: () => slot.enter(Phase.INIT),
    });
  } catch (e) {
    slot.leave();
    slots.delete(id);
    const timeout = e instanceof DeadlineExceeded;
    post({ t: 'failed', slot: id, code: e instanceof BpfwasmError ? e.code : 'EXPORTER_INIT', message: message(e), timeout });
    return;
  }
  slot.leave();
  const ready = slot.takeFlush();
  const instance = slot.instance;
  postOrdered({ t: 'ready', slot: id, subscriptions: instance.subscriptions, canForget: instance.canForget, flush: ready.flush }, ready.transfer);
}

/** Slots with results in the wake-up running now, in the order they first ran. */
const touched: Slot[] = [];
/** Results of the wake-up running now that go back in its message, and the buffers it transfers. */
let urgent: SlotResults[] = [];
let transfer: ArrayBuffer[] = [];

function runEntry(id: number, recordType: number, count: number, payload: Uint8Array): void {
  const slot = slots.get(id);
  if (slot === undefined || slot.instance === undefined || slot.dead || slot.stopped) return;
  const results = slot.results;
  if (results.statuses.length === 0) touched.push(slot);
  const instance = slot.instance;
  // Each call gets its own deadline: a wake-up of many batches is not one long call.
  const t0 = slot.enter(Phase.BATCH);
  const status = instance.runBatch(++slot.seq, recordType, payload, count);
  slot.leave();
  results.statuses.push(status);
  results.seconds.push((performance.now() - t0) / 1000);
  if (status === BatchStatus.TIMEOUT) {
    slot.dead = true;
    return;
  }
  // The main thread applies a flush in one go: hand over what piled up so no one message is long
  // to apply, with the batches it came from, so the store never shows operations of uncounted batches.
  if (instance.imports.pendingOps >= FLUSH_OPS) {
    touched.splice(touched.indexOf(slot), 1);
    const { flush, transfer: buffers } = slot.takeFlush();
    postOrdered({ t: 'done', results: [copyResults(slot, flush)] }, buffers);
  }
}

/** The slot's results so far as a message's (the slot's arrays start again empty). */
function copyResults(slot: Slot, flush: SlotResults['flush']): SlotResults {
  const r = slot.results;
  const copy = { slot: slot.id, seq: slot.seq, statuses: r.statuses.slice(), seconds: r.seconds.slice(), flush };
  r.statuses.length = 0;
  r.seconds.length = 0;
  return copy;
}

/**
 * Hands a slot's results of this wake-up back: through the results ring when nothing in them is
 * urgent, else in the wake-up's message. Never through the ring while a message the thread posted
 * is not yet applied (the main thread would read the ring first), nor after the slot logged (its
 * logs reach the main thread before its results, so a caller's flush() has seen them).
 */
function handOver(slot: Slot): void {
  const r = slot.results;
  let ok = !slot.logged && ordered === Atomics.load(signals, SIG_APPLIED);
  slot.logged = false;
  for (let b = 0; ok && b < r.statuses.length; b++) ok = r.statuses[b] === BatchStatus.OK;
  if (ok) {
    r.seq = slot.seq;
    r.flush = slot.instance!.imports.takeFlush();
    // A full ring or results it cannot carry go in the message: nothing is lost.
    if (putResults(resultsRing, r)) {
      r.statuses.length = 0;
      r.seconds.length = 0;
      return;
    }
    const ops = r.flush.ops.slice();
    urgent.push(copyResults(slot, { ...r.flush, ops }));
    transfer.push(ops.buffer);
    return;
  }
  const taken = slot.takeFlush();
  urgent.push(copyResults(slot, taken.flush));
  transfer.push(...taken.transfer);
}

/** Runs every batch in the ring; their results go back through the results ring, or in one message. */
function drain(): void {
  if (ring.drain(runEntry) === 0) return;
  for (const slot of touched) handOver(slot);
  touched.length = 0;
  if (urgent.length !== 0) {
    postOrdered({ t: 'done', results: urgent }, transfer);
    urgent = [];
    transfer = [];
    return;
  }
  // Read after the results were published: the main thread asks, then reads the ring, so one of the two sees the other.
  if (Atomics.load(signals, SIG_ANSWER) !== 0 || resultsRing.fill() > RESULTS_WAKE_FILL) post({ t: 'done', results: [] });
}

function forget(id: number, ids: readonly number[], appliedSeq: number): void {
  // Batches handed over before the forget run before it.
  drain();
  const slot = slots.get(id);
  if (slot === undefined || slot.instance === undefined || slot.dead) return;
  const instance = slot.instance;
  slot.enter(Phase.FORGET);
  const forgettable = instance.imports.forgettable(ids, appliedSeq);
  let outcome: boolean | 'timeout';
  try {
    outcome = forgettable.length === 0 || instance.forget(forgettable);
  } catch (e) {
    if (!(e instanceof DeadlineExceeded)) throw e;
    outcome = 'timeout';
    slot.dead = true;
  }
  slot.leave();
  const { flush, transfer: buffers } = slot.takeFlush();
  postOrdered({
    t: 'forgotten', slot: id, ids: outcome === true ? forgettable : [], trapped: outcome === false && instance.canForget,
    timeout: outcome === 'timeout', flush,
  }, buffers);
}

port.on('message', (m: ToWorker) => {
  if (m.t === 'load') void load(m.slot, m.init);
  else if (m.t === 'forget') forget(m.slot, m.ids, m.appliedSeq);
  else slots.delete(m.slot);
});

async function loop(): Promise<void> {
  for (;;) {
    drain();
    await ring.wait();
  }
}

void loop();
