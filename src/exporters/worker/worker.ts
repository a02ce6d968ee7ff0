// Exporter thread entry: several exporter modules (slots) run here, each in its own
// WebAssembly instance, off the thread that serves HTTP. Batches arrive through the ring
// (ring.ts) and every batch that piled up runs in one wake-up, answered by one message. Each
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
  FLUSH_OPS, Phase, type FromWorker, type RpcRequest, type SlotInit, type SlotResults, type ThreadInit, type ToWorker,
} from '../protocol.js';
import { RingReader } from '../ring.js';

/** Longest the worker waits for the main thread to answer a synchronous call. */
const RPC_TIMEOUT_MS = 10_000;

const port = parentPort!;
const ring = new RingReader((workerData as ThreadInit).ring);
const decoder = new TextDecoder();
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

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
  results: SlotResults | undefined;
  readonly link: HostLink;

  constructor(readonly id: number, readonly init: SlotInit) {
    this.ctl = new Int32Array(init.control, 0, 8);
    this.since = new Float64Array(init.control, 0, 8);
    this.text = new Uint8Array(init.control, CTL_TEXT_OFFSET, CTL_TEXT_BYTES);
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

  takeFlush(): { flush: SlotResults['flush']; transfer: ArrayBuffer[] } {
    const flush = this.instance!.imports.takeFlush();
    return { flush, transfer: [flush.ops] };
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
  post({ t: 'ready', slot: id, subscriptions: instance.subscriptions, canForget: instance.canForget, flush: ready.flush }, ready.transfer);
}

/** Slots with results in the wake-up running now, in the order they first ran. */
const touched: Slot[] = [];

function runEntry(id: number, recordType: number, count: number, payload: Uint8Array): void {
  const slot = slots.get(id);
  if (slot === undefined || slot.instance === undefined || slot.dead || slot.stopped) return;
  let results = slot.results;
  if (results === undefined) {
    results = slot.results = { slot: id, seq: 0, statuses: [], seconds: [], flush: undefined! };
    touched.push(slot);
  }
  const instance = slot.instance;
  // Each call gets its own deadline: a wake-up of many batches is not one long call.
  const t0 = slot.enter(Phase.BATCH);
  const status = instance.runBatch(++slot.seq, recordType, payload, count);
  slot.leave();
  results.statuses.push(status);
  results.seconds.push((performance.now() - t0) / 1000);
  (results as { seq: number }).seq = slot.seq;
  if (status === BatchStatus.TIMEOUT) {
    slot.dead = true;
    return;
  }
  // The main thread applies a flush in one go: hand over what piled up so no one message is long
  // to apply, with the batches it came from, so the store never shows operations of uncounted batches.
  if (instance.imports.pendingOps >= FLUSH_OPS) {
    slot.results = undefined;
    touched.splice(touched.indexOf(slot), 1);
    const partial = slot.takeFlush();
    results.flush = partial.flush;
    post({ t: 'done', results: [results] }, partial.transfer);
  }
}

/** Runs every batch in the ring and answers for all of them in one message. */
function drain(): void {
  if (ring.drain(runEntry) === 0) return;
  const results: SlotResults[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const slot of touched) {
    const r = slot.results!;
    slot.results = undefined;
    const taken = slot.takeFlush();
    r.flush = taken.flush;
    transfer.push(...taken.transfer);
    results.push(r);
  }
  touched.length = 0;
  post({ t: 'done', results }, transfer);
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
  const { flush, transfer } = slot.takeFlush();
  post({
    t: 'forgotten', slot: id, ids: outcome === true ? forgettable : [], trapped: outcome === false && instance.canForget,
    timeout: outcome === 'timeout', flush,
  }, transfer);
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
