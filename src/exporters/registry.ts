// The set of loaded exporters and the per-record-type fan-out of batches to them. Loading is
// isolated per module (each in its own worker, all in parallel): a module that fails is
// recorded with its error and the rest load.
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BpfwasmError } from '../errors.js';
import { LogLevel } from './abi.js';
import { loadExporter, type Exporter, type ExporterHost } from './runtime.js';
import { NO_TRUSTED_KEYS, readSignature, verifyModule, type TrustPolicy } from './signing.js';
import { ExporterMetrics, type ExporterSeries } from './self-metrics.js';

export interface FailedExporter {
  readonly name: string;
  readonly path: string;
  /** Why it failed (a BpfwasmError message names the module and the problem). */
  readonly error: string;
}

export class ExporterRegistry {
  readonly failed: FailedExporter[] = [];
  readonly metrics: ExporterMetrics;
  private readonly exporters: Exporter[] = [];
  private readonly series = new Map<string, ExporterSeries>();
  /** Subscribers per record type, computed at load so dispatch is one array walk. */
  private byType: Exporter[][] = [];

  constructor(private readonly host: ExporterHost, private readonly trust: TrustPolicy = NO_TRUSTED_KEYS) {
    this.metrics = new ExporterMetrics(host.store);
  }

  /**
   * Loads every `*.wasm` of each directory, in the order given (built-ins first, then user
   * directories) and by file name within one. A name already taken is refused, so a user
   * module cannot shadow a built-in. A directory that cannot be read is logged and skipped.
   * `skip` names modules of the first directory not to load (built-ins of disabled sensors).
   */
  async loadFrom(dirs: readonly string[], skip: ReadonlySet<string> = new Set(), builtinFirst = false): Promise<void> {
    const paths = new Map<string, string>();
    const loads: Promise<void>[] = [];
    for (const [i, dir] of dirs.entries()) {
      let files: string[];
      try {
        files = (await readdir(dir)).filter((f) => f.endsWith('.wasm') && !(i === 0 && skip.has(basename(f, '.wasm')))).sort();
      } catch (e) {
        this.host.log('registry', LogLevel.WARN, `cannot read exporter directory ${dir}: ${(e as Error).message}`);
        continue;
      }
      // Built-ins ship with the collector itself; modules from other directories are checked.
      const builtin = i === 0 && builtinFirst;
      for (const file of files) {
        const path = join(dir, file);
        const name = basename(file, '.wasm');
        const taken = paths.get(name);
        if (taken !== undefined) {
          loads.push(Promise.resolve(this.refuse(name, path, `${name}: name already used by ${taken}`)));
          continue;
        }
        paths.set(name, path);
        loads.push(this.loadFile(name, path, builtin));
      }
    }
    // Every module loads in its own worker at once; the outcome is recorded in directory order.
    await Promise.all(loads);
    const order = [...paths.values()];
    this.exporters.sort((a, b) => order.indexOf(pathOf(a, paths)) - order.indexOf(pathOf(b, paths)));
    this.failed.sort((a, b) => a.name.localeCompare(b.name));
    this.index();
  }

  /**
   * Loads one more module while batches flow (through the API, or a file that appeared). It
   * joins the dispatch only once running, between two batches; rejects if it cannot run.
   */
  async load(name: string, bytes: Uint8Array): Promise<Exporter> {
    if (this.exporters.some((e) => e.name === name)) {
      throw new BpfwasmError('EXPORTER_LOAD', `${name}: an exporter of that name is already loaded`);
    }
    const series = this.metrics.of(name);
    this.series.set(name, series);
    const exporter = await loadExporter(name, bytes, this.host, this.metrics);
    this.exporters.push(exporter);
    this.index();
    return exporter;
  }

  /** Hands one batch to every exporter subscribed to `recordType`; never blocks on a worker. */
  dispatch(recordType: number, payload: Uint8Array, count: number): void {
    const subscribers = this.byType[recordType];
    if (subscribers === undefined) return;
    for (let i = 0; i < subscribers.length; i++) subscribers[i]!.onBatch(recordType, payload, count);
  }

  list(): readonly Exporter[] {
    return this.exporters;
  }

  /** Resolves once every batch dispatched so far has been applied (or dropped). */
  async flush(): Promise<void> {
    await Promise.all(this.exporters.map((e) => e.flush()));
  }

  /** Brings the self metrics read from the store (series owned, refusals) up to date. */
  refreshMetrics(): void {
    for (const s of this.series.values()) s.refresh();
  }

  async close(): Promise<void> {
    await Promise.all(this.exporters.map((e) => e.close()));
  }

  private async loadFile(name: string, path: string, builtin: boolean): Promise<void> {
    const series = this.metrics.of(name);
    this.series.set(name, series);
    try {
      const bytes = await readFile(path);
      const trust = builtin ? undefined : verifyModule(name, bytes, await readSignature(path), this.trust);
      this.exporters.push(await loadExporter(name, bytes, this.host, this.metrics));
      this.host.log(name, LogLevel.INFO, `loaded exporter from ${path}${trust ? ` (${trust.note})` : ''}`);
    } catch (e) {
      series.state('failed');
      this.refuse(name, path, e instanceof Error ? e.message : String(e));
    }
  }

  private refuse(name: string, path: string, error: string): void {
    this.failed.push({ name, path, error });
    this.host.log(name, LogLevel.ERROR, `exporter not loaded: ${error}`);
  }

  private index(): void {
    const byType: Exporter[][] = [];
    for (const e of this.exporters) {
      for (const t of e.subscriptions) (byType[t] ??= []).push(e);
    }
    this.byType = byType;
  }
}

function pathOf(e: Exporter, paths: ReadonlyMap<string, string>): string {
  return paths.get(e.name) ?? '';
}
