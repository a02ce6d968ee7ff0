// Wires the pipeline: helper process → frame decoder → exporters → series store, and
// answers readiness. HTTP and the CLI sit on top of this and hold no pipeline logic.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SENSORS, cgroupRules, exporterLimits, exporterSettings, type Config, type SensorName } from './config.js';
import { helperArgs } from './ingest/helper-args.js';
import { PACKAGE_ROOT } from './package-root.js';
import { Resolver } from './resolve/index.js';
import { BpfwasmError } from './errors.js';
import { ExporterRegistry } from './exporters/host/registry.js';
import { loadTrustPolicy } from './exporters/host/signing.js';
import { exporterWatchdogClock, holdExporterWakeups, wakeExporterThreads } from './exporters/host/thread.js';
import { ExporterDirWatcher } from './exporters/host/watch.js';
import { registryClients } from './exporters/oci/clients.js';
import { OciExporterSource } from './exporters/oci/source.js';
import { FrameDecoder, parseStats, type ControlKind } from './ingest/frame-decoder.js';
import { HelperLiveness, stallThresholdMs } from './ingest/helper-liveness.js';
import { HelperSupervisor } from './ingest/helper-supervisor.js';
import {
  STAT_NONE, StatKind, type HelloMessage, type LogMessage, type ReadyMessage,
} from './ingest/protocol.js';
import { RECORDS } from './ingest/generated/events.js';
import { PipelineMetrics } from './metrics/pipeline-metrics.js';
import { RuntimeMetrics } from './metrics/runtime-metrics.js';
import { SeriesStore } from './metrics/store.js';
import type { Readiness } from './http/routes/health.js';
import { EventTap } from './api/event-tap.js';
import { exporterLogHooks } from './logs/events.js';

export const BUILTIN_EXPORTERS_DIR = join(PACKAGE_ROOT, 'exporters', 'build');

/** The sensor that sends each record type. */
const RECORD_SENSOR: readonly (string | undefined)[] = RECORDS.reduce<string[]>((out, r) => {
  out[r.id] = r.sensor;
  return out;
}, []);

/** The collector's clock: the store's time, series expiry, liveness, the exporter watchdog's slow looks and the event-loop delay. */
const CLOCK_MS = 1000;

/** Longest failure reason kept in a label and in status (a verifier line is rarely longer). */
const MAX_REASON_BYTES = 200;

/** What became of one sensor at the helper's last start (ebpf/PROTOCOL.md, "Partial start"). */
export interface SensorState {
  name: SensorName;
  state: 'disabled' | 'starting' | 'attached' | 'failed';
  required: boolean;
  /** The hooks it took (or tried), when its adapter says: '' otherwise. */
  route: string;
  /** For `failed`: the step, its errno, and the first verifier or libbpf error line. */
  step: string;
  errno: number;
  reason: string;
}

export class Collector {
  readonly store: SeriesStore;
  readonly metrics: PipelineMetrics;
  readonly decoder: FrameDecoder;
  readonly exporters: ExporterRegistry;
  readonly supervisor: HelperSupervisor;
  /** Stalls of a ready helper: no frame (not even its periodic STATS) for a few intervals. */
  readonly liveness: HelperLiveness;
  private readonly runtime: RuntimeMetrics;
  hello: HelloMessage | undefined;
  ready: ReadyMessage | undefined;
  private exportersLoaded = false;
  /** Each sensor as the last READY left it. */
  private readonly sensorStates = new Map<SensorName, SensorState>();
  /** Built-in exporters unloaded because their sensors are off → the record types they take. */
  private readonly offExporters = new Map<string, readonly number[]>();
  /** Set while the exporters of failed or recovered sensors are unloaded or loaded. */
  private exporterSync: Promise<void> | undefined;
  private clock: NodeJS.Timeout | undefined;
  /** The exporter watchdog's looks that may wait a second ride on the clock's ticks (one main-thread wake-up a second fewer in a stream). */
  private watchdogClock: ReturnType<typeof exporterWatchdogClock> | undefined;
  private lastSweep = 0;
  private readyWaiters: { resolve(): void; reject(err: Error): void }[] = [];
  /** Names behind the exporters' `resolve` import: syscalls, errnos, disks, cgroups, signals. */
  readonly resolver: Resolver;
  /** Decoded events for the API's StreamEvents; idle (one branch per batch) while nobody streams. */
  readonly tap: EventTap;
  readonly startedAt = Date.now();
  /**
   * Resolves once start() has spawned the helper. A caller loads its own modules after that:
   * their loading holds this thread's event loop, and the spawn waits for a turn of it.
   */
  readonly launched: Promise<void>;
  private launch!: (spawned: Promise<void>) => void;

  /** Hot reload of the user exporter directories (exporters.watch). */
  watcher: ExporterDirWatcher | undefined;
  /** Exporters followed in OCI registries (exporters.oci). */
  oci: OciExporterSource | undefined;

  /** Exporter and registry log lines and quarantines, as records the host builds (src/logs/events.ts). */
  private readonly exporterLog: ReturnType<typeof exporterLogHooks>;

  constructor(readonly config: Config, private readonly log: Logger) {
    this.exporterLog = exporterLogHooks(log);
    this.launched = new Promise((resolve) => { this.launch = resolve; });
    this.store = new SeriesStore({
      maxSeriesPerOwner: config.exporters.maxSeriesPerExporter,
      maxLabelValueBytes: config.exporters.maxLabelValueBytes,
      maxSeriesPerMetric: config.metrics.maxSeriesPerMetric,
      nativeHistograms: config.metrics.nativeHistograms,
    });
    this.metrics = new PipelineMetrics(this.store);
    this.resolver = new Resolver({ rules: cgroupRules(config), rescanIntervalMs: config.cgroups.rescanIntervalMs });
    this.runtime = new RuntimeMetrics(this.store, CLOCK_MS);
    this.tap = new EventTap(this.resolver);
    this.exporters = new ExporterRegistry({
      store: this.store,
      maxBatchBytes: config.helper.batchBytes,
      log: this.exporterLog.log,
      quarantined: this.exporterLog.quarantined,
      resolve: (kind, id) => this.resolver.resolve(kind, id),
      settings: (exporter) => exporterSettings(config, exporter),
      limits: exporterLimits(config),
    }, loadTrustPolicy(config.exporters));
    this.decoder = new FrameDecoder({
      events: (recordType, payload, count) => {
        this.metrics.onReceived(recordType, count);
        this.exporters.dispatch(recordType, payload, count);
        this.metrics.onProcessed(recordType, count);
        if (this.tap.active) this.tap.onBatch(recordType, payload, count);
      },
      stats: (payload, count) => this.onStats(payload, count),
      control: (kind, message) => this.onControl(kind, message),
    });
    this.liveness = new HelperLiveness(stallThresholdMs(config.helper.statsMs));
    this.supervisor = new HelperSupervisor({
      path: config.helper.path,
      args: helperArgs(config),
      onData: (chunk) => {
        // Every frame of this read goes to the exporter threads before any is woken: one wake-up each.
        holdExporterWakeups();
        try {
          this.decoder.push(chunk);
        } finally {
          wakeExporterThreads();
        }
      },
      onStreamEnd: () => {
        this.decoder.end();
        this.metrics.sensors.rebase();
      },
      onStderr: (line) => this.log.warn({ source: 'helper' }, line),
      onSpawn: (pid) => this.log.info({ pid }, 'helper started'),
      onExit: (code, signal, willRestart) => this.onHelperExit(code, signal, willRestart),
    });
  }

  /**
   * Starts the helper, loads the exporters meanwhile, and resolves once its sensors are attached
   * (`launched` resolves on the way). The exporter thread starts once `exportersAfter` resolves:
   * a worker's isolate starting beside this thread's module loading slowed both down (the HTTP
   * server's code cache took 80-100 ms to deserialize beside it, 20 ms without), while the helper,
   * a process of its own, is best started first.
   */
  async start(timeoutMs = 30_000, exportersAfter: Promise<void> = Promise.resolve()): Promise<void> {
    if (!existsSync(this.config.helper.path)) {
      throw new BpfwasmError('HELPER_MISSING', `helper not found at ${this.config.helper.path}; build it with \`npm run build\``);
    }
    const dirs = [...(this.config.exporters.builtin ? [BUILTIN_EXPORTERS_DIR] : []), ...this.config.exporters.dirs];
    // A disabled sensor's built-in exporter would only show empty metrics: it is not loaded.
    const skip = new Set<string>(this.config.exporters.builtin ? SENSORS.filter((s) => !this.config.sensors[s].enabled) : []);
    const attached = new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
    attached.catch(() => { /* awaited below */ });
    // The helper loads its sensors in its own process while the exporters load here; its
    // frames wait in its socket until the exporters can take them.
    this.launch(this.supervisor.start(true));
    await exportersAfter;
    await this.exporters.loadFrom(dirs, skip, this.config.exporters.builtin); // failures are logged by the registry and exported as exporter_up 0
    if (this.config.exporters.watch && this.config.exporters.dirs.length) {
      this.watcher = new ExporterDirWatcher({ dirs: this.config.exporters.dirs, manager: this.exporters, log: this.exporterLog.log, store: this.store, trust: this.exporters.trust });
      this.watcher.start();
    }
    if (this.config.exporters.oci.length) {
      this.oci = new OciExporterSource({
        entries: this.config.exporters.oci, manager: this.exporters, client: registryClients(this.config.exporters),
        maxModuleBytes: this.config.exporters.ociMaxModuleBytes, log: this.exporterLog.log, store: this.store,
      });
      this.oci.start();
    }
    const startedAt = Date.now();
    this.watchdogClock = exporterWatchdogClock();
    this.clock = setInterval(() => this.tick(Math.floor((Date.now() - startedAt) / 1000)), CLOCK_MS);
    this.clock.unref();
    this.exportersLoaded = true;
    for (const s of this.sensors()) this.exportSensorInfo(s);
    this.supervisor.releaseFrames();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BpfwasmError('NOT_READY', `helper did not attach its sensors within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([attached, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.clock);
    this.watchdogClock?.stop();
    await this.watcher?.close();
    await this.oci?.close();
    await this.supervisor.stop();
    await this.exporters.close();
  }

  /** Advances the store's clock and, every quarter TTL (1 s to 60 s), expires idle series. */
  private tick(nowSeconds: number): void {
    this.runtime.eventLoop.tick();
    this.watchdogClock?.tick();
    this.store.now = nowSeconds;
    this.checkLiveness();
    const ttl = this.config.metrics.seriesTtlSeconds;
    if (ttl === 0 || nowSeconds - this.lastSweep < Math.min(60, Math.max(1, Math.floor(ttl / 4)))) return;
    this.lastSweep = nowSeconds;
    void this.expireIdleSeries(ttl);
  }

  /**
   * Removes exporter series not updated for `ttl` seconds, so dead pids and comms leave
   * /metrics without a restart. Each exporter first drops the ids from its caches
   * (bpfwasm_forget, in its worker) and then frees them; one that cannot keeps its series.
   */
  async expireIdleSeries(ttl: number): Promise<void> {
    const sweeps: Promise<boolean>[] = [];
    for (const e of this.exporters.list()) {
      if (!e.canForget) continue;
      const ids = this.store.idleSeries(e.name, ttl);
      if (ids.length) sweeps.push(e.forget(ids));
    }
    await Promise.all(sweeps);
  }

  /**
   * Ready: every sensor that can load is attached (the helper said READY; the ones it left off
   * are listed in `off`) and every exporter of an attached sensor is loaded.
   */
  readiness(): Readiness {
    const waiting: string[] = [];
    if (!this.exportersLoaded) waiting.push('exporters not loaded');
    if (!this.ready) {
      waiting.push(this.supervisor.fatal ? `helper failed: ${this.supervisor.fatal.message}` : 'sensors not attached');
    } else if (this.checkLiveness()) {
      waiting.push(`helper stalled: no frame for ${(this.liveness.silentMs / 1000).toFixed(1)} s (it sends STATS every ${this.config.helper.statsMs} ms)`);
    } else if (this.exporterSync) {
      waiting.push('exporters of sensors that changed state not (un)loaded yet');
    }
    const failed = this.sensors().filter((s) => s.state === 'failed');
    // A node with every sensor off observes nothing: not ready, so the rollout and the pod's events say so.
    if (this.ready && failed.length && !this.sensors().some((s) => s.state === 'attached')) {
      waiting.push('no sensor is attached: every enabled sensor is off (see off)');
    }
    const off = failed
      .map((s) => ({ sensor: s.name, step: s.step, errno: s.errno, reason: s.reason, ...(s.route && { route: s.route }) }));
    return { ready: waiting.length === 0, waiting, off };
  }

  /** Every sensor: disabled in the config, or what the helper's last READY said of it. */
  sensors(): SensorState[] {
    return SENSORS.map((name) => this.sensorStates.get(name) ?? {
      name, state: this.config.sensors[name].enabled ? 'starting' : 'disabled',
      required: this.config.sensors[name].required, route: '', step: '', errno: 0, reason: '',
    });
  }

  /** Whether the helper is running, attached and sending frames. */
  helperUp(): boolean {
    return this.ready !== undefined && !this.checkLiveness();
  }

  /** Brings the stall state up to date (logging a change); true while the helper is stalled. */
  private checkLiveness(): boolean {
    const change = this.liveness.check(this.decoder.counters.frames);
    if (change === 'stalled') {
      this.log.error({ pid: this.supervisor.pid, silentMs: Math.round(this.liveness.silentMs) }, 'helper stalled: no frame from it; events are not arriving');
    } else if (change === 'recovered') {
      this.log.warn({ pid: this.supervisor.pid }, 'helper frames flow again');
    }
    return this.liveness.stalled;
  }

  /** Brings the values kept outside the store up to date; every scrape and federation calls it first. */
  async refresh(): Promise<void> {
    this.refreshScrapeMetrics();
    await this.runtime.refresh();
  }

  private refreshScrapeMetrics(): void {
    const m = this.metrics;
    const d = this.decoder.counters;
    m.frames.setTotal(d.frames);
    m.framesMalformed.setTotal(d.malformed);
    m.framesLost.setTotal(d.lostFrames);
    m.framesTruncated.setTotal(d.truncated);
    m.framesUnknownType.setTotal(d.unknownType);
    m.frameSkippedBytes.setTotal(d.skippedBytes);
    m.helperRestarts.setTotal(this.supervisor.restarts);
    m.helperUp.set(this.helperUp() ? 1 : 0);
    m.helperStalls.setTotal(this.liveness.stalls);
    this.exporters.refreshMetrics();
    const r = this.resolver.stats();
    const hierarchies = r.memoryCgroup && r.memoryCgroup !== r.cgroup ? [['v2', r.cgroup], ['memory', r.memoryCgroup]] as const : [['v2', r.cgroup]] as const;
    for (const [hierarchy, c] of hierarchies) {
      if (!c) continue;
      m.cgroupLookups.setTotal([hierarchy], c.lookups);
      m.cgroupUnknown.setTotal([hierarchy], c.unknown);
      m.cgroupRescans.setTotal([hierarchy], c.rescans);
      m.cgroupRescanSeconds.setTotal([hierarchy], c.rescanSeconds);
      m.cgroupEntries.set([hierarchy], c.entries);
    }
    m.blockDeviceUnknown.setTotal(r.blockDevice.unknown);
    for (const [metric, n] of this.store.refusedByMetricName()) m.seriesRefused.setTotal([metric], n);
  }

  private onControl(kind: ControlKind, message: unknown): void {
    if (kind === 'hello') {
      const hello = message as HelloMessage;
      this.hello = hello;
      this.metrics.helperInfo.set([hello.helper, hello.kernel], 1);
      this.metrics.sensors.onHello(hello.sensors, hello.ncpus);
    } else if (kind === 'ready') {
      const ready = message as ReadyMessage;
      this.ready = ready;
      this.supervisor.markReady();
      this.liveness.watch(this.decoder.counters.frames);
      this.metrics.helperLoadSeconds.set([], ready.load_ms / 1000);
      this.metrics.helperAttachSeconds.set([], ready.attach_ms / 1000);
      this.onSensorsStarted(ready);
      const failed = this.sensors().filter((s) => s.state === 'failed').map((s) => s.name);
      this.log.info({ load_ms: ready.load_ms, attach_ms: ready.attach_ms, sensors: ready.sensors, failed }, 'sensors attached');
      if (failed.length && !this.sensors().some((s) => s.state === 'attached')) {
        this.log.error({ failed }, 'no sensor is attached: only the collector\'s own metrics are exported');
      }
      const sync: Promise<void> = this.syncSensorExporters().catch((err: Error) => {
        this.log.error({ err: err.message }, 'exporters of sensors that changed state could not be (un)loaded');
      }).finally(() => {
        if (this.exporterSync === sync) this.exporterSync = undefined;
        for (const w of this.readyWaiters.splice(0)) w.resolve();
      });
      this.exporterSync = sync;
    } else if (kind === 'log') {
      const { level, msg } = message as LogMessage;
      const fn = level === 'error' ? 'error' : level === 'warn' ? 'warn' : level === 'debug' ? 'debug' : 'info';
      this.log[fn]({ source: 'helper' }, msg);
    }
  }

  /** Each sensor's state from READY, in the metrics, and one warn line per sensor left off. */
  private onSensorsStarted(ready: ReadyMessage): void {
    const attached = new Set(Array.isArray(ready.sensors) ? ready.sensors : []);
    const failed = new Map((Array.isArray(ready.failed) ? ready.failed : []).map((f) => [f.name, f]));
    const routes: Record<string, unknown> = ready.routes && typeof ready.routes === 'object' ? ready.routes : {};
    for (const name of SENSORS) {
      const required = this.config.sensors[name].required;
      let state: SensorState = { name, state: 'disabled', required, route: '', step: '', errno: 0, reason: '' };
      const f = failed.get(name);
      if (attached.has(name)) {
        state = { ...state, state: 'attached', route: bounded(routes[name]) };
      } else if (f) {
        state = { ...state, state: 'failed', route: bounded(f.route), step: bounded(f.step), errno: Number(f.errno) || 0, reason: bounded(f.error) };
        this.log.warn({ sensor: name, step: state.step, errno: state.errno, reason: state.reason, ...(state.route && { route: state.route }) },
          `sensor ${name} off: ${state.step}: ${state.reason}`);
      } else if (this.config.sensors[name].enabled) {
        state = { ...state, state: 'failed', step: 'report', reason: 'the helper reported it neither attached nor failed' };
        this.log.warn({ sensor: name }, `sensor ${name} off: ${state.reason}`);
      }
      this.sensorStates.set(name, state);
      if (state.state !== 'disabled') this.metrics.sensors.setAttached(name, state.state === 'attached');
      this.exportSensorInfo(state);
    }
  }

  private exportSensorInfo(s: SensorState): void {
    const reason = s.state === 'failed' ? `${s.step}: ${s.reason}` : '';
    this.metrics.sensors.setInfo(s.name, s.state, s.route, reason);
  }

  /**
   * An exporter that takes only records of failed sensors would get no events. A built-in one
   * is unloaded (state `off`: its empty series must not pass for a quiet host) and loaded
   * again once a later helper attaches one of its sensors; any other one stays idle, said in a
   * warn line.
   */
  private async syncSensorExporters(): Promise<void> {
    const failed = new Map(this.sensors().filter((s) => s.state === 'failed').map((s) => [s.name as string, s]));
    const offTypes = new Set(RECORDS.filter((r) => failed.has(r.sensor)).map((r) => r.id));
    const why = (types: readonly number[]) => [...new Set(types.map((t) => RECORD_SENSOR[t]!))]
      .map((name) => `sensor ${name} is off (${failed.get(name)!.step}: ${failed.get(name)!.reason})`).join('; ');
    for (const [name, types] of [...this.offExporters]) {
      if (types.every((t) => offTypes.has(t))) continue;
      this.offExporters.delete(name);
      await this.exporters.load(name, await readFile(join(BUILTIN_EXPORTERS_DIR, `${name}.wasm`)), 'builtin');
      this.log.info({ exporter: name }, `exporter ${name} loaded again: its sensor is attached`);
    }
    for (const e of this.exporters.describe()) {
      if (!e.current || !e.subscriptions.length || !e.subscriptions.every((t) => offTypes.has(t))) continue;
      if (e.current.source !== 'builtin') {
        this.log.warn({ exporter: e.name }, `exporter ${e.name} idle: every record type it takes comes from a sensor that is off: ${why(e.subscriptions)}`);
        continue;
      }
      await this.exporters.unload(e.name);
      this.exporters.metrics.of(e.name).state('off');
      this.offExporters.set(e.name, e.subscriptions);
      this.log.warn({ exporter: e.name }, `exporter ${e.name} not loaded: ${why(e.subscriptions)}`);
    }
  }

  /** Built-in exporters not loaded because `sensor` is off. */
  exportersOff(sensor: string): string[] {
    return [...this.offExporters].filter(([, types]) => types.some((t) => RECORD_SENSOR[t] === sensor)).map(([name]) => name).sort();
  }

  private onStats(payload: Uint8Array, count: number): void {
    const sensors = this.hello?.sensors ?? [];
    for (const s of parseStats(payload, count)) {
      const sensor = s.sensor === STAT_NONE ? undefined : sensors[s.sensor];
      switch (s.kind) {
        case StatKind.RING_DROPS:
          if (sensor) this.metrics.sensors.ringDrops(sensor.name, s.cpu, s.value);
          break;
        case StatKind.RING_SUBMITTED:
          if (sensor) this.metrics.sensors.submitted(sensor.name, s.cpu, s.value);
          break;
        case StatKind.MAP_FULL:
          if (sensor) this.metrics.sensors.mapFull(sensor.name, s.cpu, s.value);
          break;
        case StatKind.RECORDS_WRITTEN:
          this.metrics.sensors.recordsWritten(s.index, s.value);
          break;
        case StatKind.PROG_RUN_COUNT:
        case StatKind.PROG_RUN_TIME_NS: {
          const program = sensor?.programs[s.index];
          if (!sensor || !program) break;
          if (s.kind === StatKind.PROG_RUN_COUNT) {
            this.metrics.sensors.programRuns(sensor.name, program, s.value);
          } else {
            this.metrics.sensors.programRunSeconds(sensor.name, program, s.value / 1e9);
          }
          break;
        }
        default:
          break; // a newer helper's stat kind: ignored, the rest still applies
      }
    }
  }

  private onHelperExit(code: number | null, signal: NodeJS.Signals | null, willRestart: boolean): void {
    const wasReady = this.ready !== undefined;
    this.ready = undefined;
    this.liveness.unwatch();
    for (const s of this.hello?.sensors ?? []) this.metrics.sensors.setAttached(s.name, false);
    if (willRestart) {
      this.log.warn({ code, signal }, 'helper exited; restarting');
      return;
    }
    const fatal = this.supervisor.fatal;
    if (fatal) {
      this.log.error({ code }, fatal.message);
      const err = new BpfwasmError('NOT_READY', fatal.message);
      for (const w of this.readyWaiters.splice(0)) w.reject(err);
    } else if (wasReady) {
      this.log.info({ code, signal }, 'helper stopped');
    }
  }
}

/** A helper-given text cut to MAX_REASON_BYTES (on a character boundary), '' when absent. */
function bounded(text: unknown): string {
  if (typeof text !== 'string') return '';
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= MAX_REASON_BYTES ? text : `${bytes.subarray(0, MAX_REASON_BYTES - 3).toString('utf8').replace(/\uFFFD$/, '')}...`;
}
