// The set of loaded exporters and the per-record-type fan-out of batches to them. Loading is
// isolated per module: a module that fails is recorded with its error and the rest load.
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BpfwasmError } from '../errors.js';
import { LogLevel } from './abi.js';
import { loadExporter, type Exporter, type ExporterHost } from './runtime.js';
import { NO_TRUSTED_KEYS, readSignature, verifyModule, type TrustPolicy } from './signing.js';

export interface FailedExporter {
  readonly name: string;
  readonly path: string;
  /** Why it failed (a BpfwasmError message names the module and the problem). */
  readonly error: string;
}

export class ExporterRegistry {
  readonly failed: FailedExporter[] = [];
  private readonly exporters: Exporter[] = [];
  private readonly paths = new Map<string, string>();
  private builtinFirst = false;
  /** Subscribers per record type, computed at load so dispatch is one array walk. */
  private byType: Exporter[][] = [];

  constructor(private readonly host: ExporterHost, private readonly trust: TrustPolicy = NO_TRUSTED_KEYS) {}

  /**
   * Loads every `*.wasm` of each directory, in the order given (built-ins first, then user
   * directories) and by file name within one. A name already taken is refused, so a user
   * module cannot shadow a built-in. A directory that cannot be read is logged and skipped.
   * `skip` names modules of the first directory not to load (built-ins of disabled sensors).
   */
  async loadFrom(dirs: readonly string[], skip: ReadonlySet<string> = new Set(), builtinFirst = false): Promise<void> {
    this.builtinFirst = builtinFirst;
    for (const [i, dir] of dirs.entries()) {
      let files: string[];
      try {
        files = (await readdir(dir)).filter((f) => f.endsWith('.wasm') && !(i === 0 && skip.has(basename(f, '.wasm')))).sort();
      } catch (e) {
        this.host.log('registry', LogLevel.WARN, `cannot read exporter directory ${dir}: ${(e as Error).message}`);
        continue;
      }
      // Built-ins ship with the collector itself; modules from other directories are checked.
      const builtin = i === 0 && this.builtinFirst;
      for (const file of files) await this.loadFile(join(dir, file), builtin);
    }
    this.index();
  }

  /** Hands one batch to every exporter subscribed to `recordType`. */
  dispatch(recordType: number, payload: Uint8Array, count: number): void {
    const subscribers = this.byType[recordType];
    if (subscribers === undefined) return;
    for (let i = 0; i < subscribers.length; i++) subscribers[i]!.onBatch(recordType, payload, count);
  }

  list(): readonly Exporter[] {
    return this.exporters;
  }

  private async loadFile(path: string, builtin: boolean): Promise<void> {
    const name = basename(path, '.wasm');
    const taken = this.paths.get(name);
    this.paths.set(name, taken ?? path);
    try {
      if (taken !== undefined) throw new BpfwasmError('EXPORTER_LOAD', `${name}: name already used by ${taken}`);
      const bytes = await readFile(path);
      const trust = builtin ? undefined : verifyModule(name, bytes, await readSignature(path), this.trust);
      this.exporters.push(await loadExporter(name, bytes, this.host));
      this.host.log(name, LogLevel.INFO, `loaded exporter from ${path}${trust ? ` (${trust.note})` : ''}`);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.failed.push({ name, path, error });
      this.host.log(name, LogLevel.ERROR, `exporter not loaded: ${error}`);
    }
  }

  private index(): void {
    const byType: Exporter[][] = [];
    for (const e of this.exporters) {
      for (const t of e.subscriptions) (byType[t] ??= []).push(e);
    }
    this.byType = byType;
  }
}
