// Worker entry: one exporter module runs here, off the thread that serves HTTP. It marks each
// phase in the shared control block for the main thread's watchdog, answers the module's
// imports locally, and asks the main thread synchronously only for what it owns (metric
// declarations, resolved names), blocking on Atomics.wait.
import { parentPort, workerData } from 'node:worker_threads';
import { BpfwasmError } from '../errors.js';
import { Errno } from './abi.js';
import type { HostLink } from './guest-imports.js';
import { instantiate, message, type ModuleInstance } from './instance.js';
import {
  BATCH_FIELDS, CTL_PHASE, CTL_RPC, CTL_RPC_TEXT_LEN, CTL_RPC_VALUE, CTL_SINCE_F64, CTL_TEXT_BYTES, CTL_TEXT_OFFSET,
  FLUSH_OPS, Phase, type FromWorker, type RpcRequest, type ToWorker, type WorkerInit,
} from './protocol.js';

/** Longest the worker waits for the main thread to answer a synchronous call. */
const RPC_TIMEOUT_MS = 10_000;

const init = workerData as WorkerInit;
const port = parentPort!;
const ctl = new Int32Array(init.control, 0, 8);
const since = new Float64Array(init.control, 0, 8);
const text = new Uint8Array(init.control, CTL_TEXT_OFFSET, CTL_TEXT_BYTES);
const decoder = new TextDecoder();

const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

/** Starts a phase the watchdog times; returns performance.now() at its start. */
function enter(phase: number): number {
  const now = performance.now();
  since[CTL_SINCE_F64] = performance.timeOrigin + now;
  Atomics.store(ctl, CTL_PHASE, phase);
  return now;
}

function leave(): void {
  Atomics.store(ctl, CTL_PHASE, Phase.IDLE);
}

/** A synchronous call answered by the main thread; its wait counts against the module's deadline like its own work. */
function rpc(req: RpcRequest): { value: number; text: string | undefined } {
  Atomics.store(ctl, CTL_RPC, 0);
  post({ t: 'rpc', req });
  const outcome = Atomics.wait(ctl, CTL_RPC, 0, RPC_TIMEOUT_MS);
  if (outcome === 'timed-out') return { value: Errno.ESTATE, text: 'the host did not answer' };
  const len = Atomics.load(ctl, CTL_RPC_TEXT_LEN);
  return { value: Atomics.load(ctl, CTL_RPC_VALUE), text: len < 0 ? undefined : decoder.decode(text.slice(0, len)) };
}

const link: HostLink = {
  declare(spec) {
    const r = rpc({ op: 'declare', spec });
    return r.value >= 0 ? r.value : { code: r.value, why: r.text ?? '' };
  },
  resolve(kind, id) {
    const r = rpc({ op: 'resolve', kind, id });
    return r.value === 0 ? r.text : undefined;
  },
  log(level, msg, fields) {
    post(fields ? { t: 'log', level, msg, fields } : { t: 'log', level, msg });
  },
};

function flushOf(instance: ModuleInstance) {
  const flush = instance.imports.takeFlush();
  return { flush, transfer: [flush.ops] };
}

async function main(): Promise<void> {
  let instance: ModuleInstance;
  enter(Phase.INIT);
  try {
    instance = await instantiate(init.name, init.bytes, link, {
      limits: init.limits, settings: init.settings, seed: init.seed,
      maxBatchBytes: init.maxBatchBytes, maxMemoryPages: init.maxMemoryPages,
    }, init.module);
  } catch (e) {
    leave();
    post({ t: 'failed', code: e instanceof BpfwasmError ? e.code : 'EXPORTER_INIT', message: message(e) });
    return;
  }
  leave();
  const ready = flushOf(instance);
  post({ t: 'ready', subscriptions: instance.subscriptions, canForget: instance.canForget, flush: ready.flush }, ready.transfer);

  port.on('message', (m: ToWorker) => {
    if (m.t === 'batches') {
      const meta = m.batches;
      const n = meta.length / BATCH_FIELDS;
      const statuses: number[] = [];
      const seconds: number[] = [];
      for (let b = 0, at = 0; b < n; b++) {
        const type = meta[b * BATCH_FIELDS]!;
        const count = meta[b * BATCH_FIELDS + 1]!;
        const bytes = meta[b * BATCH_FIELDS + 2]!;
        // Each call gets its own deadline: a message of many batches is not one long call.
        const t0 = enter(Phase.BATCH);
        statuses.push(instance.runBatch(m.seq + b, type, new Uint8Array(m.payload, at, bytes), count));
        seconds.push((performance.now() - t0) / 1000);
        leave();
        at += bytes;
        // The main thread applies a flush in one go: hand over what piled up so no one message is long to apply.
        if (instance.imports.pendingOps >= FLUSH_OPS) {
          const partial = flushOf(instance);
          post({ t: 'flush', flush: partial.flush }, partial.transfer);
        }
      }
      const { flush, transfer } = flushOf(instance);
      transfer.push(m.payload);
      post({ t: 'done', seq: m.seq + n - 1, statuses, seconds, flush, payload: m.payload }, transfer);
    } else {
      enter(Phase.FORGET);
      const ids = instance.imports.forgettable(m.ids, m.appliedSeq);
      const forgotten = ids.length === 0 || instance.forget(ids);
      leave();
      const { flush, transfer } = flushOf(instance);
      post({ t: 'forgotten', ids: forgotten ? ids : [], trapped: !forgotten && instance.canForget, flush }, transfer);
    }
  });
}

void main();
