// Hot reload from the exporter directories: a new or changed `NAME.wasm` (or its `.sig`) is
// loaded or swapped in through the registry, a removed one unloaded; `NAME.shadow.wasm` runs
// as NAME's shadow candidate while it exists. The folder is the desired state of the modules
// it holds; a module that fails validation is refused and logged, and what runs keeps running.
import { readdirSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BpfwasmError } from '../errors.js';
import { LogLevel } from './abi.js';
import type { ExporterManager } from './management.js';
import { moduleVersion, SHADOW_SUFFIX } from './registry.js';
import { readSignature, SIGNATURE_SUFFIX } from './signing.js';

export interface WatchOptions {
  readonly dirs: readonly string[];
  readonly manager: ExporterManager;
  log(exporter: string, level: number, msg: string): void;
  /** Quiet time after the last change of a file before it is read: a copy in progress settles. */
  readonly settleMs?: number;
}

export class ExporterDirWatcher {
  private readonly watchers: FSWatcher[] = [];
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  private closed = false;

  constructor(private readonly opts: WatchOptions) {}

  /** Starts watching, and starts the candidates of the shadow files present; a directory that cannot be watched is logged and skipped. */
  start(): void {
    for (const dir of this.opts.dirs) {
      try {
        for (const f of readdirSync(dir)) if (f.endsWith(SHADOW_SUFFIX)) this.changed(dir, f);
        const w = watch(dir, (_event, file) => {
          if (file) this.changed(dir, file.toString());
        });
        w.on('error', (e) => this.opts.log('registry', LogLevel.WARN, `stopped watching ${dir}: ${e.message}`));
        this.watchers.push(w);
      } catch (e) {
        this.opts.log('registry', LogLevel.WARN, `cannot watch exporter directory ${dir}: ${(e as Error).message}`);
      }
    }
  }

  /** Stops watching and waits for a reload in progress. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers.splice(0)) w.close();
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
    await Promise.allSettled(this.running.values());
  }

  /** Resolves once every change made before the call has been acted on (for tests). */
  async settled(): Promise<void> {
    await new Promise((r) => setTimeout(r, 50)); // inotify delivers within this
    while (this.pending.size || this.running.size) {
      await Promise.allSettled(this.running.values());
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private changed(dir: string, file: string): void {
    const module = file.endsWith(SIGNATURE_SUFFIX) ? file.slice(0, -SIGNATURE_SUFFIX.length) : file;
    if (!module.endsWith('.wasm') || this.closed) return;
    const path = join(dir, module);
    clearTimeout(this.pending.get(path));
    this.pending.set(path, setTimeout(() => {
      this.pending.delete(path);
      // One reload per file at a time; a change meanwhile is looked at once the reload ends.
      const previous = this.running.get(path) ?? Promise.resolve();
      const next = previous.then(() => this.apply(path)).finally(() => {
        if (this.running.get(path) === next) this.running.delete(path);
      });
      this.running.set(path, next);
    }, this.opts.settleMs ?? 250).unref());
  }

  /** Brings the exporter named by `path` in line with the file. */
  private async apply(path: string): Promise<void> {
    if (path.endsWith(SHADOW_SUFFIX)) return this.applyShadow(path);
    const name = basename(path, '.wasm');
    const { manager, log } = this.opts;
    const info = manager.describe().find((i) => i.name === name);
    const source = info?.current?.source;
    if (source !== undefined && source !== path) {
      log(name, LogLevel.WARN, `${path} ignored: exporter ${name} was loaded from ${source}, not from this file`);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (info?.current) await this.act(name, () => manager.unload(name), `unloaded: ${path} was removed`);
      return;
    }
    if (info?.current?.version === moduleVersion(bytes)) return; // touched, or only its .sig changed
    const signature = await readSignature(path).catch(() => undefined);
    const what = info?.current ? `swapped in the new version from ${path}` : `loaded from ${path}`;
    await this.act(name, () => manager.install(name, bytes, { signature, source: path }), what);
  }

  /** Runs `NAME.shadow.wasm` as NAME's candidate while the file exists. */
  private async applyShadow(path: string): Promise<void> {
    const name = basename(path, SHADOW_SUFFIX);
    const { manager } = this.opts;
    const shadow = manager.describe().find((i) => i.name === name)?.shadow;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (shadow?.source === path) await this.act(name, () => manager.abort(name), `shadow aborted: ${path} was removed`);
      return;
    }
    if (shadow?.version === moduleVersion(bytes)) return;
    const signature = await readSignature(path).catch(() => undefined);
    await this.act(name, () => manager.install(name, bytes, { signature, source: path, shadow: true }), `shadow candidate started from ${path}`);
  }

  private async act(name: string, run: () => Promise<unknown>, done: string): Promise<void> {
    try {
      await run();
      this.opts.log(name, LogLevel.INFO, done);
    } catch (e) {
      const why = e instanceof BpfwasmError ? `${e.code}: ${e.message}` : String(e);
      this.opts.log(name, LogLevel.ERROR, `not reloaded: ${why}`);
    }
  }
}
