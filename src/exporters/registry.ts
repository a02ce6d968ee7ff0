// The set of loaded exporters and the per-record-type fan-out of batches to them. Loading is
// isolated per module: a module that fails is recorded with its error and the rest load.
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BpfwasmError } from '../errors.js';
import { LogLevel } from './abi.js';
import { loadExporter, type Exporter, type ExporterHost } from './runtime.js';

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
  /** Subscribers per record type, computed at load so dispatch is one array walk. */
  private byType: Exporter[][] = [];

  constructor(private readonly host: ExporterHost) {}

  /**
   * Loads every `*.wasm` of each directory, in the order given (built-ins first, then user
   * directories) and by file name within one. A name already taken is refused, so a user
   * module cannot shadow a built-in. A directory that cannot be read is logged and skipped.
   * `skip` names modules of the first directory not to load (built-ins of disabled sensors).
   */
  async loadFrom(dirs: readonly string[], skip: ReadonlySet<string> = new Set()): Promise<void> {
    for (const [i, dir] of dirs.entries()) {
      let files: string[];
      try {
        files = (await readdir(dir)).filter((f) => f.endsWith('.wasm') && !(i === 0 && skip.has(basename(f, '.wasm')))).sort();
      } catch (e) {
        this.host.log('registry', LogLevel.WARN, `cannot read exporter directory ${dir}: ${(e as Error).message}`);
        continue;
      }
      for (const file of files) await this.loadFile(join(dir, file));
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

  private async loadFile(path: string): Promise<void> {
    const name = basename(path, '.wasm');
    const taken = this.paths.get(name);
    this.paths.set(name, taken ?? path);
    try {
      if (taken !== undefined) throw new BpfwasmError('EXPORTER_LOAD', `${name}: name already used by ${taken}`);
      this.exporters.push(await loadExporter(name, await readFile(path), this.host));
      this.host.log(name, LogLevel.INFO, `loaded exporter from ${path}`);
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
