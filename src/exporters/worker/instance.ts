// One exporter module instance: cap its memory → compile → validate → instantiate → version →
// init → batch buffer, then run its batches. Runs on an exporter thread, with fuel checks injected; a failure while
// loading throws a BpfwasmError, a failure while running is reported, never thrown.
import { BpfwasmError } from '../../errors.js';
import {
  ABI_VERSION, EXPORT_ABI_VERSION, EXPORT_BATCH_BUFFER, EXPORT_FORGET, EXPORT_INIT, EXPORT_MEMORY, EXPORT_ON_BATCH,
} from '../abi.js';
import { FUEL_CHECK, FUEL_MODULE, injectFuel } from './fuel.js';
import { GuestImports, type GuestOptions, type HostLink } from './guest-imports.js';
import { capModule } from './memory-cap.js';
import { BatchStatus } from '../protocol.js';
import { validateModule } from './validate.js';

type I32Fn = (...args: number[]) => number;

export interface InstanceOptions extends GuestOptions {
  /** Largest batch payload the host will pass; the module's buffer is requested at this size. */
  readonly maxBatchBytes: number;
  readonly maxMemoryPages: number;
  /** The injected fuel import (fuel.ts): the next allowance, or a DeadlineExceeded throw. */
  readonly fuelCheck: () => number;
  /** Called before the module's own code first runs (start function, init): starts its init deadline, and the fuel check judges this module. */
  readonly enter: () => void;
}

/** Thrown by the fuel check into a module past its deadline; never caught by the module (fuel.ts refuses exception handling). */
export class DeadlineExceeded extends Error {
  constructor() {
    super('stopped at its deadline');
  }
}

export async function instantiate(name: string, bytes: Uint8Array, link: HostLink, options: InstanceOptions): Promise<ModuleInstance> {
  const capped = capModule(name, bytes, options.maxMemoryPages);
  const fueled = injectFuel(name, capped.bytes);
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(fueled as Uint8Array<ArrayBuffer>); // lib typing only: any view compiles
  } catch (e) {
    throw new BpfwasmError('EXPORTER_LOAD', `${name}: not a valid WebAssembly module: ${message(e)}`, { cause: e });
  }
  validateModule(name, module, fueled);

  const imports = new GuestImports(link, options, capped.fixedBytes);
  let instance: WebAssembly.Instance;
  // Synchronous from here: no other module's code runs on this thread until init returned.
  options.enter();
  try {
    instance = new WebAssembly.Instance(module, { bpfwasm: imports.imports, [FUEL_MODULE]: { [FUEL_CHECK]: options.fuelCheck } });
  } catch (e) {
    if (e instanceof DeadlineExceeded) throw e;
    throw new BpfwasmError('EXPORTER_INIT', `${name}: its start function failed: ${message(e)}`, { cause: e });
  }
  // validateModule guaranteed these exist with these kinds and signatures.
  const exports = instance.exports;
  imports.attach(exports[EXPORT_MEMORY] as WebAssembly.Memory);
  const fn = (n: string) => exports[n] as I32Fn;

  const version = call(name, 'EXPORTER_ABI', EXPORT_ABI_VERSION, fn(EXPORT_ABI_VERSION));
  if (version !== ABI_VERSION) {
    throw new BpfwasmError('EXPORTER_ABI', `${name}: ABI version ${version}, host supports ${ABI_VERSION}`);
  }
  const rc = call(name, 'EXPORTER_INIT', EXPORT_INIT, fn(EXPORT_INIT));
  if (rc !== 0) {
    const why = imports.lastError ? ` (last refused call: ${imports.lastError})` : '';
    throw new BpfwasmError('EXPORTER_INIT', `${name}: ${EXPORT_INIT} returned ${rc}${why}`);
  }
  imports.initializing = false;

  const forgetFn = typeof exports[EXPORT_FORGET] === 'function' ? fn(EXPORT_FORGET) : undefined;
  const inst = new ModuleInstance(imports, fn(EXPORT_BATCH_BUFFER), fn(EXPORT_ON_BATCH), forgetFn);
  if (!inst.reserve(options.maxBatchBytes)) {
    throw new BpfwasmError('EXPORTER_INIT', `${name}: ${imports.lastError}`);
  }
  return inst;
}

/** Calls a no-argument export during loading, turning a trap into a BpfwasmError. */
function call(name: string, code: 'EXPORTER_ABI' | 'EXPORTER_INIT', exportName: string, f: I32Fn): number {
  try {
    return f();
  } catch (e) {
    if (e instanceof DeadlineExceeded) throw e;
    throw new BpfwasmError(code, `${name}: ${exportName} trapped: ${message(e)}`, { cause: e });
  }
}

export class ModuleInstance {
  readonly subscriptions: readonly number[];
  private bufferPtr = 0;
  private bufferBytes = 0;

  constructor(
    readonly imports: GuestImports,
    private readonly batchBuffer: I32Fn,
    private readonly onBatchFn: I32Fn,
    private readonly forgetFn: I32Fn | undefined,
  ) {
    this.subscriptions = [...imports.subscriptions].sort((a, b) => a - b);
  }

  get canForget(): boolean {
    return this.forgetFn !== undefined;
  }

  /** Runs one batch; its operations wait in `imports` for `takeFlush`. */
  runBatch(seq: number, recordType: number, payload: Uint8Array, count: number): number {
    this.imports.beginBatch(seq, count);
    const len = payload.byteLength;
    if (len > this.bufferBytes && !this.reserve(len)) return BatchStatus.ERROR;
    this.imports.bytes().set(payload, this.bufferPtr);
    let rc: number;
    try {
      rc = this.onBatchFn(recordType, this.bufferPtr, len, count);
    } catch (e) {
      if (e instanceof DeadlineExceeded) return BatchStatus.TIMEOUT;
      // A wasm trap, or a stack overflow (RangeError): either way the batch was aborted.
      this.imports.lastError = `${EXPORT_ON_BATCH} trapped: ${message(e)}`;
      return BatchStatus.TRAP;
    }
    if (rc !== 0) {
      this.imports.lastError = `${EXPORT_ON_BATCH} returned ${rc}`;
      return BatchStatus.ERROR;
    }
    return BatchStatus.OK;
  }

  /**
   * Tells the module these local series ids are about to be removed (it drops them from its
   * caches) and releases them. False if it cannot forget or trapped doing it: the ids stay.
   * Throws DeadlineExceeded past its deadline.
   */
  forget(ids: readonly number[]): boolean {
    if (!this.forgetFn) return false;
    // The ids travel through the batch buffer, which the host owns between batches.
    const perCall = Math.floor(this.bufferBytes / 4);
    for (let from = 0; from < ids.length; from += perCall) {
      const chunk = ids.slice(from, from + perCall);
      const view = new DataView(this.imports.bytes().buffer, this.bufferPtr, chunk.length * 4);
      chunk.forEach((id, i) => { view.setUint32(i * 4, id, true); });
      try {
        this.forgetFn(this.bufferPtr, chunk.length);
      } catch (e) {
        if (e instanceof DeadlineExceeded) throw e;
        this.imports.lastError = `${EXPORT_FORGET} trapped: ${message(e)}`;
        return false;
      }
    }
    this.imports.release(ids);
    return true;
  }

  /** Asks the module for a batch buffer of at least `min` bytes and checks what it returns. */
  reserve(min: number): boolean {
    let ptr: number;
    try {
      ptr = this.batchBuffer(min) >>> 0;
    } catch (e) {
      if (e instanceof DeadlineExceeded) throw e;
      this.imports.lastError = `${EXPORT_BATCH_BUFFER}(${min}) trapped: ${message(e)}`;
      return false;
    }
    if (ptr === 0 || ptr % 8 !== 0 || ptr + min > this.imports.bytes().byteLength) {
      this.imports.lastError = `${EXPORT_BATCH_BUFFER}(${min}) returned ${ptr}, not an 8-byte aligned buffer in memory`;
      return false;
    }
    this.bufferPtr = ptr;
    this.bufferBytes = min;
    return true;
  }
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
