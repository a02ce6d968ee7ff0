// Loads one exporter module (validate → instantiate → version → init → batch buffer) and runs
// its batches. Failures of a running module are counted on its Exporter object, never thrown:
// one bad exporter must not stop the collector or the others.
import { BpfwasmError } from '../errors.js';
import type { SeriesStore } from '../metrics/store.js';
import {
  ABI_VERSION, EXPORT_ABI_VERSION, EXPORT_BATCH_BUFFER, EXPORT_INIT, EXPORT_MEMORY, EXPORT_ON_BATCH, EXPORT_FORGET,
} from './abi.js';
import { HostImports } from './imports.js';
import { validateModule } from './validate.js';

export interface ExporterHost {
  readonly store: SeriesStore;
  /** `fields`: the message was a JSON object, to be logged as structured fields. */
  log(exporter: string, level: number, msg: string, fields?: Record<string, unknown>): void;
  /** Names behind the `resolve` import (syscalls, errnos, devices, cgroups…). */
  resolve?(kind: number, id: bigint): string | undefined;
  /** Settings behind the `config` import, per exporter name. */
  settings?(exporter: string): Readonly<Record<string, string>> | undefined;
  /** Largest batch payload the host will pass; the module's buffer is requested at this size. */
  readonly maxBatchBytes: number;
}

export interface Exporter {
  readonly name: string;
  /** Record types the module subscribed to in init, ascending. */
  readonly subscriptions: readonly number[];
  /** Whether the module exports `bpfwasm_forget`, so its idle series may expire. */
  readonly canForget: boolean;
  /**
   * Tells the module these series ids are about to be removed (it drops them from its caches)
   * and revokes its ownership of them. False if the module cannot forget or trapped doing it,
   * in which case the ids must stay.
   */
  forget(ids: readonly number[]): boolean;
  /** Runs one batch of `count` records of `recordType`; never throws. */
  onBatch(recordType: number, payload: Uint8Array, count: number): void;
  readonly batches: number;
  readonly events: number;
  /** Batches that failed without trapping: a non-zero return, or no buffer large enough. */
  readonly errors: number;
  /** Batches aborted by a trap (disjoint from `errors`); the module keeps its state and gets the next batch. */
  readonly traps: number;
  /** `update` operations refused (foreign series, wrong kind, non-finite or negative counter add). */
  readonly rejectedOps: number;
  /** Import calls answered with an error code (bad pointer, bad UTF-8, limit, wrong phase…). */
  readonly rejectedCalls: number;
  /** Log lines dropped by the per-exporter rate limit. */
  readonly logsDropped: number;
  /** The latest problem of any of the above, '' if none. */
  readonly lastError: string;
  /** Current size of the module's linear memory: steady once warm, since exporters do not allocate per event. */
  readonly memoryBytes: number;
}

type I32Fn = (...args: number[]) => number;

export async function loadExporter(name: string, bytes: Uint8Array, host: ExporterHost): Promise<Exporter> {
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>); // lib typing only: any view compiles
  } catch (e) {
    throw new BpfwasmError('EXPORTER_LOAD', `${name}: not a valid WebAssembly module: ${message(e)}`, { cause: e });
  }
  validateModule(name, module, bytes);

  const imports = new HostImports(name, host.store, (level, msg, fields) => host.log(name, level, msg, fields), {
    resolve: host.resolve?.bind(host),
    settings: host.settings?.(name),
  });
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, { bpfwasm: imports.imports });
  } catch (e) {
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
  const exporter = new WasmExporter(name, imports, fn(EXPORT_BATCH_BUFFER), fn(EXPORT_ON_BATCH), forgetFn);
  if (!exporter.reserve(host.maxBatchBytes)) {
    throw new BpfwasmError('EXPORTER_INIT', `${name}: ${exporter.lastError}`);
  }
  return exporter;
}

/** Calls a no-argument export during loading, turning a trap into a BpfwasmError. */
function call(name: string, code: 'EXPORTER_ABI' | 'EXPORTER_INIT', exportName: string, f: I32Fn): number {
  try {
    return f();
  } catch (e) {
    throw new BpfwasmError(code, `${name}: ${exportName} trapped: ${message(e)}`, { cause: e });
  }
}

class WasmExporter implements Exporter {
  readonly subscriptions: readonly number[];
  batches = 0;
  events = 0;
  errors = 0;
  traps = 0;
  private bufferPtr = 0;
  private bufferBytes = 0;

  constructor(
    readonly name: string,
    private readonly imports: HostImports,
    private readonly batchBuffer: I32Fn,
    private readonly onBatchFn: I32Fn,
    private readonly forgetFn: I32Fn | undefined,
  ) {
    this.subscriptions = [...imports.subscriptions].sort((a, b) => a - b);
  }

  get canForget(): boolean {
    return this.forgetFn !== undefined;
  }

  forget(ids: readonly number[]): boolean {
    if (!this.forgetFn) return false;
    // The ids travel through the batch buffer, which the host owns between batches.
    const perCall = Math.floor(this.bufferBytes / 4);
    for (let from = 0; from < ids.length; from += perCall) {
      const chunk = ids.slice(from, from + perCall);
      const view = new DataView(this.imports.bytes().buffer, this.bufferPtr, chunk.length * 4);
      chunk.forEach((id, i) => view.setUint32(i * 4, id, true));
      try {
        this.forgetFn(this.bufferPtr, chunk.length);
      } catch (e) {
        this.traps++;
        this.imports.lastError = `${EXPORT_FORGET} trapped: ${message(e)}`;
        return false;
      }
    }
    this.imports.release(ids);
    return true;
  }

  get rejectedOps(): number {
    return this.imports.rejectedOps;
  }

  get logsDropped(): number {
    return this.imports.logsDropped;
  }

  get rejectedCalls(): number {
    return this.imports.rejectedCalls;
  }

  get lastError(): string {
    return this.imports.lastError;
  }

  get memoryBytes(): number {
    return this.imports.bytes().byteLength;
  }

  onBatch(recordType: number, payload: Uint8Array, count: number): void {
    this.batches++;
    this.events += count;
    const len = payload.byteLength;
    if (len > this.bufferBytes && !this.reserve(len)) {
      this.errors++;
      return;
    }
    this.imports.bytes().set(payload, this.bufferPtr);
    let rc: number;
    try {
      rc = this.onBatchFn(recordType, this.bufferPtr, len, count);
    } catch (e) {
      this.traps++; // a wasm trap, or a stack overflow (RangeError): either way the batch was aborted
      this.imports.lastError = `${EXPORT_ON_BATCH} trapped: ${message(e)}`;
      return;
    }
    if (rc !== 0) {
      this.errors++;
      this.imports.lastError = `${EXPORT_ON_BATCH} returned ${rc}`;
    }
  }

  /** Asks the module for a batch buffer of at least `min` bytes and checks what it returns. */
  reserve(min: number): boolean {
    let ptr: number;
    try {
      ptr = this.batchBuffer(min) >>> 0;
    } catch (e) {
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

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
