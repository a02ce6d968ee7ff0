// GetStatus: one function reads everything a status shows from the collector and its store.
import type { Collector } from '../collector.js';
import type { ExporterInfo, ExporterManager, ExporterVersionInfo } from '../exporters/host/management.js';
import { RECORD_NAME } from '../ingest/generated/events.js';
import type { SeriesStore } from '../metrics/store.js';

export const COLLECTOR_VERSION = '0.1.0';

/** What GetStatus reads from the collector. */
export type StatusSource = Pick<Collector, 'config' | 'store' | 'hello' | 'ready' | 'supervisor' | 'startedAt' | 'sensors' | 'exportersOff' | 'helperUp'>;

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
  const sum = sumBy(c.store);
  const received = sum('bpfwasm_events_received_total', 'type');
  const written = sum('bpfwasm_helper_records_written_total', 'type');
  let lost = 0;
  // The helper reports its writes every stats interval, so only a surplus over what arrived is loss.
  for (const [type, n] of written) lost += Math.max(0, n - (received.get(type) ?? 0));
  const submitted = sum('bpfwasm_sensor_events_submitted_total', 'sensor');
  const drops = sum('bpfwasm_sensor_ring_drops_total', 'sensor');
  const mapFull = sum('bpfwasm_sensor_map_full_total', 'sensor');
  const runs = sum('bpfwasm_bpf_program_runs_total', 'sensor');
  const runSeconds = sum('bpfwasm_bpf_program_run_seconds_total', 'sensor');
  const attached = sum('bpfwasm_sensor_attached', 'sensor');
  return {
    collector_version: COLLECTOR_VERSION,
    helper_version: c.hello?.helper ?? '',
    kernel: c.hello?.kernel ?? '',
    helper_up: c.helperUp(),
    helper_restarts: c.supervisor.restarts,
    uptime_seconds: (Date.now() - c.startedAt) / 1000,
    // The benchmark sensor is not for production: listed only when someone turned it on.
    sensors: c.sensors().filter((s) => s.name !== 'bench' || c.config.sensors.bench.enabled).map((s) => ({
      name: s.name,
      enabled: c.config.sensors[s.name].enabled,
      attached: (attached.get(s.name) ?? 0) > 0,
      events_submitted: submitted.get(s.name) ?? 0,
      ring_drops: drops.get(s.name) ?? 0,
      map_full: mapFull.get(s.name) ?? 0,
      program_runs: runs.get(s.name) ?? 0,
      program_run_seconds: runSeconds.get(s.name) ?? 0,
      // Attached at the last READY but not now: the helper is down or restarting.
      state: s.state === 'attached' && !(attached.get(s.name) ?? 0) ? 'detached' : s.state,
      required: s.required,
      route: s.route,
      reason: s.state === 'failed' ? `${s.step}: ${s.reason}` : '',
      exporters_off: c.exportersOff(s.name),
    })),
    exporters: exporters ? exporters.describe().map(exporterStatus) : [],
    events_received: [...received.values()].reduce((a, b) => a + b, 0),
    events_lost_in_pipe: lost,
    series: c.store.seriesCount,
  };
}

export function exporterStatus(e: ExporterInfo): ApiExporterStatus {
  return {
    name: e.name,
    current: e.current ? exporterVersion(e.current) : null,
    shadow: e.shadow ? exporterVersion(e.shadow) : null,
    subscriptions: e.subscriptions.map((t) => RECORD_NAME[t] ?? `type_${t}`),
  };
}

function exporterVersion(v: ExporterVersionInfo): ApiExporterVersion {
  return {
    version: v.version, state: v.state, source: v.source, signed_by: v.signedBy,
    events: v.events, batches: v.batches, traps: v.traps, timeouts: v.timeouts, restarts: v.restarts,
    dropped_events: v.droppedEvents, series: v.series, last_error: v.lastError, loaded_at_unix_ms: v.loadedAtUnixMs,
  };
}

/** A metric's values summed by one of its labels. */
function sumBy(store: SeriesStore) {
  return (metric: string, label: string): Map<string, number> => {
    const out = new Map<string, number>();
    const family = store.families.find((f) => f.spec.name === metric);
    if (!family) return out;
    const index = family.spec.labelNames.indexOf(label);
    for (const id of family.series) {
      const key = store.seriesValues[id]?.[index] ?? '';
      out.set(key, (out.get(key) ?? 0) + store.value(id));
    }
    return out;
  };
}
