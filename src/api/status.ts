// GetStatus: one function reads everything a status shows from the collector and its store.
import type { Collector } from '../collector.js';
import type { ExporterInfo, ExporterManager, ExporterVersionInfo } from '../exporters/host/management.js';
import type { PipelineMetrics } from '../metrics/pipeline-metrics.js';
import { recordName } from '../metrics/sensor-stats.js';

export const COLLECTOR_VERSION = '0.1.0';

/** What GetStatus reads from the collector: sensor counts from the same SensorStats that /metrics serves. */
export type StatusSource = Pick<Collector, 'config' | 'store' | 'hello' | 'ready' | 'supervisor' | 'startedAt' | 'sensors' | 'exportersOff' | 'helperUp'> & {
  readonly metrics: Pick<PipelineMetrics, 'sensors'>;
};

/** bpfwasm.v1.ExporterVersion / ExporterStatus as grpc-js serializes them (keepCase). */
export interface ApiExporterVersion {
  version: string; state: string; source: string; signed_by: string;
  events: number; batches: number; traps: number; timeouts: number; restarts: number;
  dropped_events: number; series: number; last_error: string; loaded_at_unix_ms: number;
}
export interface ApiExporterStatus {
  name: string;
  current: ApiExporterVersion | null;
  shadow: ApiExporterVersion | null;
  subscriptions: string[];
}
export interface ApiSensorStatus {
  name: string; enabled: boolean; attached: boolean; events_submitted: number; ring_drops: number;
  map_full: number; program_runs: number; program_run_seconds: number;
  state: string; required: boolean; route: string; reason: string; exporters_off: string[];
}
export interface ApiStatus {
  collector_version: string; helper_version: string; kernel: string; helper_up: boolean;
  helper_restarts: number; uptime_seconds: number; sensors: ApiSensorStatus[];
  exporters: ApiExporterStatus[]; events_received: number; events_lost_in_pipe: number; series: number;
}

export function collectStatus(c: StatusSource, exporters: Pick<ExporterManager, 'describe'> | undefined): ApiStatus {
  const stats = c.metrics.sensors;
  return {
    collector_version: COLLECTOR_VERSION,
    helper_version: c.hello?.helper ?? '',
    kernel: c.hello?.kernel ?? '',
    helper_up: c.helperUp(),
    helper_restarts: c.supervisor.restarts,
    uptime_seconds: (Date.now() - c.startedAt) / 1000,
    // The benchmark sensor is not for production: listed only when someone turned it on.
    sensors: c.sensors().filter((s) => s.name !== 'bench' || c.config.sensors.bench.enabled).map((s) => {
      const attached = stats.attached(s.name);
      const totals = stats.totalsOf(s.name);
      return {
        name: s.name,
        enabled: c.config.sensors[s.name].enabled,
        attached,
        events_submitted: totals.submitted,
        ring_drops: totals.ringDrops,
        map_full: totals.mapFull,
        program_runs: totals.programRuns,
        program_run_seconds: totals.programRunSeconds,
        // Attached at the last READY but not now: the helper is down or restarting.
        state: s.state === 'attached' && !attached ? 'detached' : s.state,
        required: s.required,
        route: s.route,
        reason: s.state === 'failed' ? `${s.step}: ${s.reason}` : '',
        exporters_off: c.exportersOff(s.name),
      };
    }),
    exporters: exporters ? exporters.describe().map(exporterStatus) : [],
    events_received: stats.eventsReceived(),
    events_lost_in_pipe: stats.lostInPipe(),
    series: c.store.seriesCount,
  };
}

export function exporterStatus(e: ExporterInfo): ApiExporterStatus {
  return {
    name: e.name,
    current: e.current ? exporterVersion(e.current) : null,
    shadow: e.shadow ? exporterVersion(e.shadow) : null,
    subscriptions: e.subscriptions.map(recordName),
  };
}

function exporterVersion(v: ExporterVersionInfo): ApiExporterVersion {
  return {
    version: v.version, state: v.state, source: v.source, signed_by: v.signedBy,
    events: v.events, batches: v.batches, traps: v.traps, timeouts: v.timeouts, restarts: v.restarts,
    dropped_events: v.droppedEvents, series: v.series, last_error: v.lastError, loaded_at_unix_ms: v.loadedAtUnixMs,
  };
}
