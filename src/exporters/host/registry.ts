// The set of loaded exporters, the per-record-type fan-out of batches to them, and their
// lifecycle while events flow: load, hot swap to a new version, shadow candidates beside the
// current version, promotion, abort, unload. Every change of the dispatch set happens in one
// synchronous step between two batches, so no batch is lost or handed to two versions of one
// role; series live in the host's store, so a swap keeps every counter.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BpfwasmError } from '../../errors.js';
import { Meter, type Counter, type GaugeSeries } from '../../metrics/meter.js';
import { HOST_OWNERS, SeriesStore } from '../../metrics/store.js';
import { LogLevel } from '../abi.js';
import { recordDerivers, type RecordDeriver } from './derived.js';
import type { ExporterInfo, ExporterManager, ExporterVersionInfo, InstallOptions } from './management.js';
import { loadExporter, type Exporter, type ExporterHost } from './runtime.js';
import { NO_TRUSTED_KEYS, REQUEST_SIGNATURE, SIGNATURE_SUFFIX, readSignature, verifyModule, type TrustPolicy } from './signing.js';
import { countThreadTerminations, ExporterMetrics, VERSION_LABEL, type ExporterSeries } from './self-metrics.js';
import type { IsolatedExporter } from './supervisor.js';
import { settleExporterThreads } from './thread.js';

export interface FailedExporter {
  readonly name: string;
  readonly path: string;
  /** Why it failed (a BpfwasmError message names the module and the problem). */
  readonly error: string;
}

/** One running module version and where it came from. */
interface Version {
  readonly exporter: IsolatedExporter;
  readonly bytes: Uint8Array;
  readonly version: string;
  readonly source: string;
  readonly signedBy: string;
  readonly loadedAt: number;
  readonly metrics: ExporterSeries;
}

/** Everything known under one exporter name. */
interface Slot {
  current: Version | undefined;
  shadow: Version | undefined;
  /** A load, swap, promotion, abort or unload in progress: others are refused (EXPORTER_BUSY). */
  busy: boolean;
}

/** What the last swap of each exporter cost, for the reload metrics and the benchmarks. */
export interface SwapTiming {
  /** From the request to the new version handling batches: compile, instantiate, init. */
  readonly prepareMs: number;
  /** Until the old version finished its last batch and stopped. */
  readonly drainMs: number;
}

const NAME_RE = /^[a-z0-9_-]{1,64}$/;

/** `NAME.shadow.wasm` in an exporter directory is NAME's shadow candidate, not an exporter of its own. */
export const SHADOW_SUFFIX = '.shadow.wasm';

/** First 12 hex digits of the module's SHA-256: a version that needs no cooperation from the module. */
export function moduleVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}

export class ExporterRegistry implements ExporterManager {
  readonly failed: FailedExporter[] = [];
  readonly metrics: ExporterMetrics;
  /**
   * Where shadow candidates write: their families, with `bpfwasm_exporter_version` added to
   * every series, and their self metrics. Served at /metrics/shadow; replaced by a fresh
   * store whenever no candidate runs, so a later candidate may change a metric's shape.
   */
  shadowStore: SeriesStore;
  private shadowMetrics: ExporterMetrics;
  private readonly stopCountingTerminations: () => void;
  readonly lastSwap = new Map<string, SwapTiming>();
  private readonly slots = new Map<string, Slot>();
  /** Subscribers per record type (current versions and shadows), computed on change so dispatch is one array walk. */
  private byType: Exporter[][] = [];
  /** Retired records to derive per source record type, only those some running exporter subscribes to. */
  private derivedFrom: RecordDeriver[][] = [];
  private readonly derivers = recordDerivers();
  private readonly reloads: Counter;
  private readonly lastSwapSeconds: GaugeSeries;
  /** `bpfwasm_exporter_loads_refused_total`: a refused first load keeps no series of its name, so it is counted here. */
  private readonly loadsRefused: Counter;

  constructor(private readonly host: ExporterHost, readonly trust: TrustPolicy = NO_TRUSTED_KEYS) {
    this.metrics = new ExporterMetrics(host.store);
    this.stopCountingTerminations = countThreadTerminations(host.store);
    this.shadowStore = new SeriesStore(host.store.options);
    this.shadowMetrics = new ExporterMetrics(this.shadowStore, true);
    const m = new Meter(host.store);
    this.reloads = m.counter('bpfwasm_exporter_reloads_total',
      'New versions swapped in for a running exporter (ok), or refused with the old version kept running (rejected), per exporter', ['exporter', 'result']);
    this.lastSwapSeconds = m.gauge('bpfwasm_exporter_last_swap_seconds',
      'Time the last hot swap took from request to the new version taking batches (compile, instantiate, init)').series();
    this.loadsRefused = m.counter('bpfwasm_exporter_loads_refused_total',
      'Exporter modules refused at their first load, by error code (a refused new version of a running one is a rejected reload)', ['code']);
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
      // Built-ins ship with the collector itself; modules from other directories are checked.
      const builtin = i === 0 && builtinFirst;
      let files: string[];
      try {
        // The built-ins' few small files are read at once, so their loads are handed to the thread before this first yields.
        files = (builtin ? readdirSync(dir) : await readdir(dir))
          .filter((f) => f.endsWith('.wasm') && !f.endsWith(SHADOW_SUFFIX) && !(i === 0 && skip.has(basename(f, '.wasm')))).sort();
      } catch (e) {
        this.host.log('registry', LogLevel.WARN, `cannot read exporter directory ${dir}: ${(e as Error).message}`);
        continue;
      }
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
    // Every module loads at once; dispatch follows directory order.
    await Promise.all(loads);
    const order = [...paths.keys()];
    const sorted = [...this.slots.entries()].sort(([a], [b]) => rank(order, a) - rank(order, b));
    this.slots.clear();
    for (const [name, slot] of sorted) this.slots.set(name, slot);
    this.failed.sort((a, b) => a.name.localeCompare(b.name));
    this.index();
  }

  /** Loads one more module while batches flow; rejects if the name is taken or the module cannot run. */
  async load(name: string, bytes: Uint8Array, source = 'api', signedBy = ''): Promise<Exporter> {
    try {
      return await this.loadNew(name, bytes, source, signedBy);
    } catch (e) {
      this.countRefusedLoad(e);
      throw e;
    }
  }

  private async loadNew(name: string, bytes: Uint8Array, source: string, signedBy: string): Promise<Exporter> {
    checkName(name);
    if (this.slots.get(name)?.current) {
      throw new BpfwasmError('EXPORTER_LOAD', `${name}: an exporter of that name is already loaded`);
    }
    const slot = this.claim(name);
    try {
      const version = await this.start(name, bytes, source, signedBy, false);
      slot.current = version;
      this.index();
      // Its swap counters exist from the first load, at 0, so a rate of swaps reads 0, not "no data".
      for (const result of ['ok', 'rejected']) this.reloads.series(name, result);
      // A file refused at start-up and fixed since (the watcher loads it again) is no longer failed.
      const failed = this.failed.findIndex((f) => f.name === name && f.path === source);
      if (failed >= 0) this.failed.splice(failed, 1);
      return version.exporter;
    } finally {
      this.release(name, slot);
    }
  }

  describe(): ExporterInfo[] {
    settleExporterThreads();
    return [...this.slots.entries()].map(([name, slot]) => ({
      name,
      current: slot.current && this.info(slot.current, this.host.store),
      shadow: slot.shadow && this.info(slot.shadow, this.shadowStore),
      subscriptions: slot.current?.exporter.subscriptions ?? [],
    }));
  }

  /**
   * Loads `name`, or swaps a new version in for the running one: the new version is compiled,
   * instantiated and initialised beside the old, which keeps taking batches meanwhile; then the
   * dispatch switches in one step and the old one finishes what it holds and stops. A version
   * that fails any of that is refused with the reason and the old one keeps running.
   */
  async install(name: string, bytes: Uint8Array, options: InstallOptions = {}): Promise<ExporterInfo> {
    const source = options.source ?? 'api';
    let signedBy: string;
    try {
      signedBy = this.verify(name, bytes, options.signature, source === 'api' ? REQUEST_SIGNATURE : `${source}${SIGNATURE_SUFFIX}`);
    } catch (e) {
      // A version refused for its signature is a refused load, or a rejected reload of a running one.
      if (options.shadow) throw e;
      if (this.slots.get(name)?.current) this.countRejectedReload(name);
      else this.countRefusedLoad(e);
      throw e;
    }
    if (options.shadow) {
      await this.startShadow(name, bytes, source, signedBy);
    } else if (this.slots.get(name)?.current) {
      await this.swap(name, bytes, source, signedBy);
    } else {
      await this.load(name, bytes, source, signedBy);
    }
    return this.describeOne(name);
  }

  /** Makes the shadow candidate the current version: a hot swap to its module, then the candidate stops. */
  async promote(name: string): Promise<ExporterInfo> {
    const slot = this.slots.get(name);
    const shadow = slot?.shadow;
    if (!slot?.current) throw notFound(name);
    if (!shadow) throw new BpfwasmError('EXPORTER_NO_SHADOW', `${name}: no shadow candidate to promote`);
    await this.swap(name, shadow.bytes, shadow.source, shadow.signedBy);
    await this.stopShadow(name);
    this.host.log(name, LogLevel.INFO, `promoted version ${shadow.version} from shadow to current`);
    return this.describeOne(name);
  }

  /** Stops the shadow candidate and drops its series; the current version is untouched. */
  async abort(name: string): Promise<ExporterInfo> {
    const slot = this.slots.get(name);
    if (!slot?.current) throw notFound(name);
    if (!slot.shadow) throw new BpfwasmError('EXPORTER_NO_SHADOW', `${name}: no shadow candidate to abort`);
    const version = slot.shadow.version;
    await this.stopShadow(name);
    this.host.log(name, LogLevel.INFO, `aborted shadow version ${version}`);
    return this.describeOne(name);
  }

  /** Stops `name` (and its candidate), and removes its series from /metrics. */
  async unload(name: string): Promise<void> {
    const slot = this.slots.get(name);
    if (!slot?.current) throw notFound(name);
    if (slot.shadow) await this.stopShadow(name);
    this.claim(name);
    const current = slot.current;
    slot.current = undefined;
    this.index();
    await current.exporter.close();
    current.metrics.release();
    this.host.store.dropOwner(name);
    this.slots.delete(name);
    this.host.log(name, LogLevel.INFO, `unloaded version ${current.version}`);
  }

  /**
   * Hands one batch to every exporter subscribed to `recordType`, and its records in each
   * retired layout derived from it to the exporters still subscribed to that; never blocks on a worker.
   */
  dispatch(recordType: number, payload: Uint8Array, count: number): void {
    const subscribers = this.byType[recordType];
    if (subscribers !== undefined) {
      for (let i = 0; i < subscribers.length; i++) subscribers[i]!.onBatch(recordType, payload, count);
    }
    const derived = this.derivedFrom[recordType];
    if (derived === undefined) return;
    for (let d = 0; d < derived.length; d++) {
      const deriver = derived[d]!;
      // onBatch copies the batch into the worker ring, so the deriver's buffer is free again after.
      const retired = deriver.derive(payload, count);
      const legacy = this.byType[deriver.id]!;
      for (let i = 0; i < legacy.length; i++) legacy[i]!.onBatch(deriver.id, retired, count);
    }
  }

  /** The current version of every exporter not in the middle of a change (a swap must not race an expiry sweep). */
  list(): readonly Exporter[] {
    settleExporterThreads();
    const out: Exporter[] = [];
    for (const slot of this.slots.values()) if (slot.current && !slot.busy) out.push(slot.current.exporter);
    return out;
  }

  /** Resolves once every batch dispatched so far has been applied (or dropped), shadows included. */
  async flush(): Promise<void> {
    await Promise.all(this.running().map((e) => e.flush()));
  }

  /** Brings the store and the self metrics read from it (series owned, refusals) up to date: every scrape, federation and remote write calls it first. */
  refreshMetrics(): void {
    settleExporterThreads();
    for (const slot of this.slots.values()) {
      slot.current?.metrics.refresh();
      slot.shadow?.metrics.refresh();
    }
  }

  async close(): Promise<void> {
    this.stopCountingTerminations();
    await Promise.all(this.running().map((e) => e.close()));
  }

  private async loadFile(name: string, path: string, builtin: boolean): Promise<void> {
    try {
      let bytes: Uint8Array;
      let trust: ReturnType<typeof verifyModule> | undefined;
      try {
        bytes = builtin ? readFileSync(path) : await readFile(path);
        trust = builtin ? undefined : verifyModule(name, bytes, await readSignature(path), this.trust, `${path}${SIGNATURE_SUFFIX}`);
      } catch (e) {
        this.countRefusedLoad(e);
        throw e;
      }
      await this.load(name, bytes, builtin ? 'builtin' : path, trust?.keyId ?? ''); // counts its own refusals
      this.host.log(name, LogLevel.INFO, `loaded exporter from ${path}${trust ? ` (${trust.note})` : ''}`);
    } catch (e) {
      this.metrics.of(name).state('failed');
      // The code in the log line too, so a search for EXPORTER_UNSIGNED finds every refusal.
      this.refuse(name, path, e instanceof BpfwasmError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));
    }
  }

  private countRejectedReload(name: string): void {
    this.reloads.inc([name, 'rejected']);
  }

  private countRefusedLoad(e: unknown): void {
    this.loadsRefused.inc([e instanceof BpfwasmError ? e.code : 'INTERNAL']);
  }

  private async swap(name: string, bytes: Uint8Array, source: string, signedBy: string): Promise<void> {
    const slot = this.claim(name);
    const t0 = performance.now();
    try {
      let next: Version;
      try {
        next = await this.start(name, bytes, source, signedBy, true);
      } catch (e) {
        this.countRejectedReload(name);
        const why = e instanceof Error ? e.message : String(e);
        this.host.log(name, LogLevel.ERROR, `new version refused, version ${slot.current?.version} keeps running: ${why}`);
        throw e instanceof BpfwasmError ? e : new BpfwasmError('EXPORTER_LOAD', why);
      }
      const old = slot.current!;
      // The switch: from here every batch goes to the new version, and none to the old.
      slot.current = next;
      next.exporter.adopt();
      this.index();
      const prepareMs = performance.now() - t0;
      await old.exporter.flush();
      await old.exporter.close();
      this.lastSwap.set(name, { prepareMs, drainMs: performance.now() - t0 - prepareMs });
      this.reloads.inc([name, 'ok']);
      this.lastSwapSeconds.set(prepareMs / 1000);
      const signed = signedBy ? ` (signature verified, key ${signedBy})` : '';
      this.host.log(name, LogLevel.INFO, `swapped version ${old.version} for ${next.version} from ${source} in ${prepareMs.toFixed(1)} ms${signed}`);
    } finally {
      this.release(name, slot);
    }
  }

  private async startShadow(name: string, bytes: Uint8Array, source: string, signedBy: string): Promise<void> {
    const existing = this.slots.get(name);
    if (!existing?.current) throw notFound(name, 'a shadow candidate runs beside a current version; load one first');
    if (existing.shadow) await this.stopShadow(name);
    const slot = this.claim(name);
    try {
      slot.shadow = await this.start(name, bytes, source, signedBy, false, true);
      this.index();
      this.host.log(name, LogLevel.INFO, `shadow version ${slot.shadow.version} runs beside ${slot.current?.version}; its series are on /metrics/shadow`);
    } finally {
      this.release(name, slot);
    }
  }

  private async stopShadow(name: string): Promise<void> {
    const slot = this.claim(name);
    try {
      const shadow = slot.shadow;
      if (!shadow) return;
      slot.shadow = undefined;
      this.index();
      await shadow.exporter.close();
      shadow.metrics.release();
      this.shadowStore.dropOwner(name);
      if (![...this.slots.values()].some((s) => s.shadow)) {
        this.shadowStore = new SeriesStore(this.host.store.options);
        this.shadowMetrics = new ExporterMetrics(this.shadowStore, true);
      }
    } finally {
      this.release(name, slot);
    }
  }

  /**
   * Starts one version in a slot of an exporter thread; `beside`: another version of the name runs meanwhile.
   * A version that fails keeps nothing: the metrics it declared that the running version does
   * not have, and (unless it shares them with a running version) its self metrics, are dropped.
   */
  private async start(name: string, bytes: Uint8Array, source: string, signedBy: string, beside: boolean, shadow = false): Promise<Version> {
    const version = moduleVersion(bytes);
    const host = shadow ? { ...this.host, store: this.shadowStore } : this.host;
    const metrics = shadow ? this.shadowMetrics : this.metrics;
    const builtin = source === 'builtin';
    const role = shadow ? { shadow: true, extraLabel: [VERSION_LABEL, version] as const, builtin } : { silent: beside, builtin };
    const before = host.store.familyIds(name);
    const series = metrics.of(name, version);
    try {
      const exporter = await loadExporter(name, bytes, host, metrics, role, version);
      return { exporter, bytes, version, source, signedBy, loadedAt: Date.now(), metrics: series };
    } catch (e) {
      if (!beside) series.release();
      if (before.size === 0) host.store.dropOwner(name);
      else host.store.dropFamilies(name, before);
      throw e;
    }
  }

  private verify(name: string, bytes: Uint8Array, signature: Uint8Array | undefined, sigFile: string): string {
    checkName(name);
    return verifyModule(name, bytes, signature, this.trust, sigFile).keyId ?? '';
  }

  private claim(name: string): Slot {
    let slot = this.slots.get(name);
    if (!slot) this.slots.set(name, (slot = { current: undefined, shadow: undefined, busy: false }));
    if (slot.busy) throw new BpfwasmError('EXPORTER_BUSY', `${name}: another load, swap or rollout of this exporter is in progress`);
    slot.busy = true;
    return slot;
  }

  private release(name: string, slot: Slot): void {
    slot.busy = false;
    if (!slot.current && !slot.shadow && this.slots.get(name) === slot) this.slots.delete(name);
  }

  private describeOne(name: string): ExporterInfo {
    const info = this.describe().find((i) => i.name === name);
    if (!info) throw notFound(name);
    return info;
  }

  private info(v: Version, store: SeriesStore): ExporterVersionInfo {
    const e = v.exporter;
    return {
      version: v.version, state: e.state, source: v.source, signedBy: v.signedBy, events: e.events, batches: e.batches,
      traps: e.traps, timeouts: e.timeouts, restarts: e.restarts,
      droppedEvents: e.dropped.queue_full + e.dropped.not_running + e.dropped.aborted,
      series: store.seriesOf(e.name), lastError: e.lastError, loadedAtUnixMs: v.loadedAt,
    };
  }

  private running(): IsolatedExporter[] {
    const out: IsolatedExporter[] = [];
    for (const slot of this.slots.values()) {
      if (slot.current) out.push(slot.current.exporter);
      if (slot.shadow) out.push(slot.shadow.exporter);
    }
    return out;
  }

  private refuse(name: string, path: string, error: string): void {
    this.failed.push({ name, path, error });
    this.host.log(name, LogLevel.ERROR, `exporter not loaded: ${error}`);
  }

  private index(): void {
    const byType: Exporter[][] = [];
    for (const e of this.running()) {
      for (const t of e.subscriptions) (byType[t] ??= []).push(e);
    }
    this.byType = byType;
    const derivedFrom: RecordDeriver[][] = [];
    for (const d of this.derivers) if (byType[d.id]) (derivedFrom[d.sourceId] ??= []).push(d);
    this.derivedFrom = derivedFrom;
  }
}

/** One rule for every way in (a directory, the API): names are also label values and file names. */
function checkName(name: string): void {
  if (!NAME_RE.test(name)) throw new BpfwasmError('EXPORTER_NAME_INVALID', `exporter name ${JSON.stringify(name)} must match [a-z0-9_-]{1,64}`);
  if (HOST_OWNERS.has(name)) {
    throw new BpfwasmError('EXPORTER_NAME_INVALID', `exporter name ${JSON.stringify(name)} is reserved: the collector's own metrics are kept under it`);
  }
}

function notFound(name: string, hint = ''): BpfwasmError {
  return new BpfwasmError('EXPORTER_NOT_FOUND', `${name}: no exporter of that name is loaded${hint ? `; ${hint}` : ''}`);
}

function rank(order: readonly string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}
