// Fakes of what the API server reads from a collector, for API tests over real sockets.
import { BpfwasmError } from '../../src/errors.js';
import { EventTap } from '../../src/api/event-tap.js';
import { SENSORS, defaultConfig } from '../../src/config.js';
import type { ExporterInfo, ExporterManager, ExporterVersionInfo, InstallOptions } from '../../src/exporters/host/management.js';
import { RecordType } from '../../src/testing/index.js';
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.js';
import type { SeriesStore } from '../../src/metrics/store.js';
import { ProfileStore } from '../../src/profile/profile-store.js';

function version(v: string, state: ExporterVersionInfo['state'], source = 'api'): ExporterVersionInfo {
  return {
    version: v, state, source, signedBy: '', events: 0, batches: 0, traps: 0, timeouts: 0, restarts: 0,
    droppedEvents: 0, series: 0, lastError: '', loadedAtUnixMs: 1_700_000_000_000,
  };
}

/** Enough of a registry to check the RPCs translate faithfully, errors included. */
export class FakeManager implements ExporterManager {
  readonly exporters = new Map<string, ExporterInfo>();
  readonly installs: { name: string; bytes: number; options: InstallOptions | undefined }[] = [];

  describe(): ExporterInfo[] {
    return [...this.exporters.values()];
  }

  async install(name: string, bytes: Uint8Array, options?: InstallOptions): Promise<ExporterInfo> {
    if (!/^[a-z0-9_-]{1,64}$/.test(name)) throw new BpfwasmError('EXPORTER_NAME_INVALID', `invalid exporter name ${JSON.stringify(name)}`);
    this.installs.push({ name, bytes: bytes.length, options });
    const existing = this.exporters.get(name);
    const v = version(`v${bytes.length}`, options?.shadow ? 'shadow' : 'loaded', options?.source);
    const info: ExporterInfo = options?.shadow && existing
      ? { ...existing, shadow: v }
      : { name, current: v, shadow: undefined, subscriptions: [RecordType.process_exec] };
    this.exporters.set(name, info);
    return info;
  }

  async unload(name: string): Promise<void> {
    if (!this.exporters.delete(name)) throw new BpfwasmError('EXPORTER_NOT_FOUND', `no exporter ${JSON.stringify(name)} is loaded`);
  }

  async promote(name: string): Promise<ExporterInfo> {
    const e = this.get(name);
    const promoted = { ...e, current: { ...e.shadow!, state: 'loaded' as const }, shadow: undefined };
    this.exporters.set(name, promoted);
    return promoted;
  }

  async abort(name: string): Promise<ExporterInfo> {
    const e = this.get(name);
    const aborted = { ...e, shadow: undefined };
    this.exporters.set(name, aborted);
    return aborted;
  }

  private get(name: string): ExporterInfo {
    const e = this.exporters.get(name);
    if (!e) throw new BpfwasmError('EXPORTER_NOT_FOUND', `no exporter ${JSON.stringify(name)} is loaded`);
    if (!e.shadow) throw new BpfwasmError('EXPORTER_NO_SHADOW', `exporter ${name} has no shadow candidate`);
    return e;
  }
}

export function fakeCollector(store: SeriesStore) {
  let ready = false;
  const config = defaultConfig();
  return {
    setReady: (r: boolean) => { ready = r; },
    config,
    store,
    metrics: new PipelineMetrics(store),
    tap: new EventTap(),
    hello: { helper: '9.9.9', kernel: '6.18.0-test', ncpus: 2, sensors: [] } as never,
    ready: undefined,
    helperUp: () => false,
    supervisor: { restarts: 3 } as never,
    startedAt: Date.now() - 5000,
    sensors: () => SENSORS.map((name) => ({
      name, state: name === 'tcp' ? 'failed' as const : config.sensors[name].enabled ? 'attached' as const : 'disabled' as const,
      required: false, route: name === 'process' ? 'tp_btf' : '', step: name === 'tcp' ? 'load' : '', errno: name === 'tcp' ? 22 : 0,
      reason: name === 'tcp' ? 'no BTF type for the hook' : '',
    })),
    exportersOff: (s: string) => (s === 'tcp' ? ['tcp'] : []),
    readiness: () => ({ ready, waiting: [] }),
    refresh: async () => {},
  };
}

export function profiling() {
  return {
    profiler: { run: async () => { throw new BpfwasmError('PROFILE_FAILED', 'not in this test'); } },
    store: new ProfileStore(2),
    limits: { defaultHz: 99, maxHz: 1000, defaultSeconds: 10, maxSeconds: 300 },
  };
}

