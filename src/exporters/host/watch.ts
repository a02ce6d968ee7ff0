// Hot reload from the exporter directories: a new or changed `NAME.wasm` (or its `.sig`) is
// loaded or swapped in through the registry, a removed one unloaded; `NAME.shadow.wasm` runs
// as NAME's shadow candidate while it exists. The folder is the desired state of the modules
// it holds; a module that fails validation is refused and logged, and what runs keeps running.
// A directory that goes away (removed, moved, replaced) kills its inotify watch: each is checked
// every recheckMs and watched again once it is back, and what it then holds is loaded.
// A mounted Kubernetes ConfigMap is such a directory too: see configmap.ts.
import { readdirSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BpfwasmError } from '../../errors.js';
import { Meter, type CounterSeries, type GaugeSeries } from '../../metrics/meter.js';
import type { SeriesStore } from '../../metrics/store.js';
import { LogLevel } from '../abi.js';
import { DATA_LINK, readModuleSnapshot, type ModuleFiles } from './configmap.js';
import type { ExporterManager } from './management.js';
import { moduleVersion, SHADOW_SUFFIX } from './registry.js';
import { SIGNATURE_SUFFIX, verifyModule, type TrustPolicy } from './signing.js';

export interface WatchOptions {
  readonly dirs: readonly string[];
  readonly manager: ExporterManager;
  log(exporter: string, level: number, msg: string): void;
  /** Quiet time after the last change of a file before it is read: a copy in progress settles. */
  readonly settleMs?: number;
  /** How often each directory is checked for having gone or come back. */
  readonly recheckMs?: number;
  /** Where the watch's own metrics go (bpfwasm_exporter_dir_watched, bpfwasm_exporter_dir_rewatches_total). */
  readonly store?: SeriesStore;
  /**
   * The manager's signature policy: when it requires signatures, a module whose `.sig` does not
   * match yet is read again until one settle time has passed, so either file may be written first.
   */
  readonly trust?: TrustPolicy;
}

/** One directory's live watch, and the inode it was set on (a re-created directory has another). */
interface Armed {
  readonly watcher: FSWatcher;
  readonly ino: number;
}

export class ExporterDirWatcher {
  private readonly armed = new Map<string, Armed>();
  private recheckTimer: NodeJS.Timeout | undefined;
  /** Per directory: its `bpfwasm_exporter_dir_watched` and `bpfwasm_exporter_dir_rewatches_total` series. */
  private readonly series = new Map<string, { watched: GaugeSeries; rewatches: CounterSeries }>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  /** Marker files settled() wrote, by name: called when their directory's watch reports them. */
  private readonly markers = new Map<string, () => void>();
  private markerSeq = 0;
  private closed = false;

  constructor(private readonly opts: WatchOptions) {
    if (opts.store) {
      const m = new Meter(opts.store);
      const watched = m.gauge('bpfwasm_exporter_dir_watched', 'Whether each exporter directory is watched (1), or gone and checked for its return (0)', ['dir']);
      const rewatches = m.counter('bpfwasm_exporter_dir_rewatches_total',
        'Times an exporter directory came back (re-created, moved back or replaced) and was watched again', ['dir']);
      for (const d of opts.dirs) this.series.set(d, { watched: watched.series(d), rewatches: rewatches.series(d) });
    }
  }

  /**
   * Starts watching, and starts the candidates of the shadow files present (the registry
   * loaded the rest); a directory that cannot be watched yet is logged, and watched once it can be.
   */
  start(): void {
    for (const dir of this.opts.dirs) {
      if (this.arm(dir)) {
        for (const f of readdirSync(dir)) if (f.endsWith(SHADOW_SUFFIX)) this.changed(dir, f);
      } else {
        this.opts.log('registry', LogLevel.WARN, `cannot watch exporter directory ${dir}: it does not exist; watching for it to appear`);
      }
    }
    this.recheckTimer = setInterval(() => {
      for (const dir of this.opts.dirs) this.recheck(dir);
    }, this.opts.recheckMs ?? 1000).unref();
  }

  /** Stops watching and waits for a reload in progress. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.recheckTimer);
    for (const a of this.armed.values()) a.watcher.close();
    this.armed.clear();
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
    await Promise.allSettled(this.running.values());
  }

  /** Resolves once every change made before the call has been acted on (for tests). */
  async settled(): Promise<void> {
    // inotify reports a directory's events in order: once a marker written now is seen, so is every
    // change before it (a fixed 50 ms wait was sometimes too short on a loaded machine).
    await Promise.all([...this.armed.keys()].map((dir) => this.marked(dir)));
    while (this.pending.size || this.running.size) {
      await Promise.allSettled(this.running.values());
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Writes a marker file into `dir` and resolves once its watch reports it (or 2 s later; 50 ms if it cannot be written). */
  private marked(dir: string): Promise<void> {
    const name = `.bpfwasm-settled-${process.pid}-${++this.markerSeq}`;
    const path = join(dir, name);
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.markers.delete(name);
        rmSync(path, { force: true });
        resolve();
      };
      let timer = setTimeout(done, 2000);
      this.markers.set(name, done);
      try {
        writeFileSync(path, '');
      } catch {
        clearTimeout(timer);
        timer = setTimeout(done, 50);
      }
    });
  }

  /** Watches `dir` if it is a directory now; false if it is not (or cannot be watched). */
  private arm(dir: string): boolean {
    const ino = inodeOf(dir);
    if (ino === undefined) return false;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (_event, file) => {
        const name = file?.toString();
        const marker = name === undefined ? undefined : this.markers.get(name);
        if (marker) return marker();
        // The directory itself went away (inotify reports its own name): look now, not at the next recheck.
        if (name === basename(dir)) this.recheck(dir);
        // A ConfigMap update swaps `..data` only: every module behind it may have changed.
        if (name === DATA_LINK) this.rescan(dir);
        else if (name) this.changed(dir, name);
      });
    } catch (e) {
      this.opts.log('registry', LogLevel.WARN, `cannot watch exporter directory ${dir}: ${(e as Error).message}`);
      return false;
    }
    watcher.on('error', () => this.recheck(dir));
    this.armed.set(dir, { watcher, ino });
    this.setWatched(dir, 1);
    return true;
  }

  /** Notices a directory that went away or came back; one that came back is watched again and its files brought in line. */
  private recheck(dir: string): void {
    if (this.closed) return;
    const armed = this.armed.get(dir);
    const ino = inodeOf(dir);
    if (armed && armed.ino === ino) return;
    if (armed) {
      armed.watcher.close();
      this.armed.delete(dir);
      this.setWatched(dir, 0);
      if (ino === undefined) {
        this.opts.log('registry', LogLevel.WARN, `exporter directory ${dir} is gone: its new files are not seen until it is back; what runs keeps running`);
        return;
      }
    }
    if (!this.arm(dir)) return;
    this.series.get(dir)?.rewatches.inc();
    this.opts.log('registry', LogLevel.INFO, `exporter directory ${dir} is back: watching it again, and bringing its modules in line`);
    this.rescan(dir);
  }

  /** Looks at every module file `dir` holds and every exporter loaded from it (a missing file unloads it). */
  private rescan(dir: string): void {
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      // Gone again: the next recheck notices.
    }
    for (const f of files) this.changed(dir, f);
    for (const info of this.opts.manager.describe()) {
      for (const source of [info.current?.source, info.shadow?.source]) {
        if (source !== undefined && dirname(source) === dir && !files.includes(basename(source))) this.changed(dir, basename(source));
      }
    }
  }

  private setWatched(dir: string, value: 0 | 1): void {
    this.series.get(dir)?.watched.set(value);
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
    // A promoted directory shadow stays in charge of NAME.wasm: renaming it over the file is how it is kept.
    const promotedShadow = join(dirname(path), `${name}${SHADOW_SUFFIX}`);
    if (source !== undefined && source !== path && source !== promotedShadow) {
      log(name, LogLevel.WARN, `${path} ignored: exporter ${name} was loaded from ${source}, not from this file`);
      return;
    }
    const files = await this.readPair(name, path);
    if (files === 'unreadable') return;
    if (!files) {
      if (info?.current) await this.act(name, () => manager.unload(name), `unloaded: ${path} was removed`);
      return;
    }
    const { bytes, signature } = files;
    if (info?.current?.version === moduleVersion(bytes)) return; // touched, or only its .sig changed
    // A swap is logged once, by the registry (versions, time, signature); a first load here.
    await this.act(name, () => manager.install(name, bytes, { signature, source: path }), info?.current ? undefined : (done) => {
      const key = done.current?.signedBy;
      return `loaded from ${path}${key ? ` (signature verified, key ${key})` : ''}`;
    });
  }

  /** Runs `NAME.shadow.wasm` as NAME's candidate while the file exists. */
  private async applyShadow(path: string): Promise<void> {
    const name = basename(path, SHADOW_SUFFIX);
    const { manager } = this.opts;
    const shadow = manager.describe().find((i) => i.name === name)?.shadow;
    const files = await this.readPair(name, path);
    if (files === 'unreadable') return;
    if (!files) {
      if (shadow?.source === path) await this.act(name, () => manager.abort(name), `shadow aborted: ${path} was removed`);
      return;
    }
    const { bytes, signature } = files;
    if (shadow?.version === moduleVersion(bytes)) return;
    await this.act(name, () => manager.install(name, bytes, { signature, source: path, shadow: true }), `shadow candidate started from ${path}`);
  }

  /**
   * The module at `path` and its signature, read again for up to one settle time while signatures
   * are required and the pair does not verify: the other half of a swap may still be on its way.
   * What is read at the deadline goes to the manager, which refuses (and counts) a pair still wrong.
   */
  private async readPair(name: string, path: string): Promise<ModuleFiles | undefined | 'unreadable'> {
    const trust = this.opts.trust;
    let files = await this.read(name, path);
    if (!trust?.requireSignatures || files === 'unreadable' || !files || this.pairVerifies(name, files, trust)) return files;
    const settleMs = this.opts.settleMs ?? 250;
    const deadline = Date.now() + settleMs;
    this.opts.log(name, LogLevel.INFO, `${path} does not match its signature yet: waiting up to ${settleMs} ms for the matching ${basename(path)}${SIGNATURE_SUFFIX}`);
    while (!this.closed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.max(10, settleMs / 10)));
      files = await this.read(name, path);
      if (files === 'unreadable' || !files || this.pairVerifies(name, files, trust)) return files;
    }
    return files;
  }

  private pairVerifies(name: string, files: ModuleFiles, trust: TrustPolicy): boolean {
    try {
      verifyModule(name, files.bytes, files.signature, trust);
      return true;
    } catch {
      return false;
    }
  }

  /** The module at `path` and its signature, undefined if it is gone; 'unreadable' (logged) leaves things as they are. */
  private async read(name: string, path: string): Promise<ModuleFiles | undefined | 'unreadable'> {
    try {
      return await readModuleSnapshot(path);
    } catch (e) {
      this.opts.log(name, LogLevel.ERROR, `not reloaded: cannot read ${path}: ${(e as Error).message}`);
      return 'unreadable';
    }
  }

  private async act<T>(name: string, run: () => Promise<T>, done: string | ((result: T) => string) | undefined): Promise<void> {
    try {
      const result = await run();
      if (done !== undefined) this.opts.log(name, LogLevel.INFO, typeof done === 'string' ? done : done(result));
    } catch (e) {
      const why = e instanceof BpfwasmError ? `${e.code}: ${e.message}` : String(e);
      this.opts.log(name, LogLevel.ERROR, `not reloaded: ${why}`);
    }
  }
}

/** The inode of `path` if it is a directory now. */
function inodeOf(path: string): number | undefined {
  try {
    const st = statSync(path);
    return st.isDirectory() ? st.ino : undefined;
  } catch {
    return undefined;
  }
}
