// The collector's own pipeline metrics. They live in the same SeriesStore as exporter series
// (owner "collector"), so one serializer covers both. Values the helper reports cumulatively
// are rebased on every helper restart so the exported counters never go backwards.
import { RECORDS, RECORD_NAME } from '../ingest/generated/events.js';
import type { SeriesStore } from './store.js';

const OWNER = 'collector';

export class PipelineMetrics {
  private readonly received: Int32Array;
  private readonly processed: Int32Array;
  private readonly fam: Record<string, number> = {};
  /** Cumulative helper-reported values: key → [series id, base from earlier helper runs, last seen]. */
  private readonly cumulative = new Map<string, [number, number, number]>();
  /** name + key → the series setOnly keeps. */
  private readonly only = new Map<string, number>();

  constructor(private readonly store: SeriesStore) {
    const counter = (name: string, help: string, labels: string[] = []) =>
      (this.fam[name] = store.declare(OWNER, { name, help, kind: 'counter', labelNames: labels }));
    const gauge = (name: string, help: string, labels: string[] = []) =>
      (this.fam[name] = store.declare(OWNER, { name, help, kind: 'gauge', labelNames: labels }));

    counter('bpfwasm_events_received_total', 'Event records received from the helper, by record type', ['type']);
    counter('bpfwasm_events_processed_total', 'Event records handed to every subscribed exporter, by record type', ['type']);
    counter('bpfwasm_helper_records_written_total', 'Event records the helper reports having written, by record type', ['type']);
    counter('bpfwasm_sensor_ring_drops_total', 'Events lost in the kernel because the ring buffer was full, by sensor and CPU', ['sensor', 'cpu']);
    counter('bpfwasm_sensor_map_full_total', 'Map inserts that failed because a tracking or aggregation map was full: data lost in the kernel, by sensor and CPU', ['sensor', 'cpu']);
    counter('bpfwasm_sensor_events_submitted_total', 'Events the BPF programs submitted to the ring buffer, by sensor and CPU', ['sensor', 'cpu']);
    counter('bpfwasm_bpf_program_runs_total', 'Times each BPF program ran (BPF_ENABLE_STATS)', ['sensor', 'program']);
    counter('bpfwasm_bpf_program_run_seconds_total', 'CPU time spent in each BPF program (BPF_ENABLE_STATS)', ['sensor', 'program']);
    counter('bpfwasm_frames_total', 'Protocol frames decoded from the helper');
    counter('bpfwasm_frames_malformed_total', 'Frames that failed a check and were skipped (the decoder resynchronised)');
    counter('bpfwasm_frames_lost_total', 'Frames missing according to their sequence numbers');
    counter('bpfwasm_frames_truncated_total', 'Helper streams that ended in the middle of a frame');
    counter('bpfwasm_frames_unknown_type_total', 'EVENTS frames of a record type this collector does not know, skipped');
    counter('bpfwasm_frame_skipped_bytes_total', 'Bytes skipped while resynchronising on the helper stream');
    counter('bpfwasm_helper_restarts_total', 'Times the helper was restarted after it exited');
    gauge('bpfwasm_helper_up', 'Whether the helper is running, its sensors are attached and its frames arrive (1) or not (0)');
    counter('bpfwasm_helper_stalls_total', 'Times a ready helper sent no frame, not even its periodic STATS, for 3 stats intervals (at least 2 s)');
    gauge('bpfwasm_helper_info', 'Helper build and kernel, as labels', ['version', 'kernel']);
    gauge('bpfwasm_helper_load_seconds', 'Time the helper took to open and load its sensors at its last start');
    gauge('bpfwasm_helper_attach_seconds', 'Time the helper took to attach its sensors at its last start');
    gauge('bpfwasm_sensor_attached', 'Whether each sensor is loaded and attached', ['sensor']);
    gauge('bpfwasm_sensor_info', 'Each sensor, 1, with its state (starting, attached, failed, disabled), the route its hooks took, and why it failed: the step and the first verifier or libbpf error line', ['sensor', 'state', 'route', 'reason']);
    counter('bpfwasm_cgroup_resolve_lookups_total', 'cgroup ids exporters asked to resolve into paths or labels, by hierarchy (v2, or memory when the memory controller is on cgroup v1)', ['hierarchy']);
    counter('bpfwasm_cgroup_resolve_unknown_total', 'cgroup ids that resolved to no cgroup even after a rescan (or with the rescan rate-limited)', ['hierarchy']);
    counter('bpfwasm_cgroup_rescans_total', 'Walks of the cgroup tree to index cgroup ids', ['hierarchy']);
    counter('bpfwasm_cgroup_rescan_seconds_total', 'Time spent walking the cgroup tree', ['hierarchy']);
    gauge('bpfwasm_cgroup_resolve_entries', 'cgroups in the id index', ['hierarchy']);
    counter('bpfwasm_block_device_resolve_unknown_total', 'Block device numbers that resolved to no device name');
    counter('bpfwasm_metric_series_refused_total', 'Series refused because their metric reached metrics.maxSeriesPerMetric', ['metric']);

    // Per-type series are interned up front so the per-batch path is two typed-array lookups.
    const maxId = Math.max(...RECORDS.map((r) => r.id));
    this.received = new Int32Array(maxId + 1).fill(-1);
    this.processed = new Int32Array(maxId + 1).fill(-1);
    for (const r of RECORDS) {
      this.received[r.id] = store.series(this.fam.bpfwasm_events_received_total!, [r.name]);
      this.processed[r.id] = store.series(this.fam.bpfwasm_events_processed_total!, [r.name]);
    }
  }

  /** Hot path, once per EVENTS frame. */
  onReceived(recordType: number, count: number): void {
    this.store.add(this.received[recordType]!, count);
  }

  onProcessed(recordType: number, count: number): void {
    this.store.add(this.processed[recordType]!, count);
  }

  /** Series id of a metric's label set (interned once, then cached by the store). */
  series(name: string, labels: string[] = []): number {
    return this.store.series(this.fam[name]!, labels);
  }

  inc(name: string, labels: string[] = [], by = 1): void {
    this.store.add(this.series(name, labels), by);
  }

  set(name: string, labels: string[], value: number): void {
    this.store.set(this.series(name, labels), value);
  }

  /** Sets the one series of `name` kept for `key`: a new label set replaces (frees) the previous one. */
  setOnly(name: string, key: string, labels: string[], value: number): void {
    const id = this.series(name, labels);
    const k = `${name}\u0000${key}`;
    const previous = this.only.get(k);
    if (previous !== undefined && previous !== id) this.store.free([previous]);
    this.only.set(k, id);
    this.store.set(id, value);
  }

  /** Records a value the helper reports as cumulative since it started. */
  setCumulative(name: string, labels: string[], value: number): void {
    const key = `${name}\u0000${labels.join('\u0000')}`;
    let entry = this.cumulative.get(key);
    if (!entry) this.cumulative.set(key, (entry = [this.series(name, labels), 0, 0]));
    entry[2] = value;
    this.store.set(entry[0], entry[1] + value);
  }

  /** A new helper process starts its cumulative counters at zero: fold the old totals into the base. */
  rebaseCumulative(): void {
    for (const entry of this.cumulative.values()) {
      entry[1] += entry[2];
      entry[2] = 0;
    }
  }

  /** Sets a counter that the collector tracks as a running total elsewhere (decoder, exporters). */
  setTotal(name: string, labels: string[], value: number): void {
    this.store.set(this.series(name, labels), value);
  }

  static recordName(recordType: number): string {
    return RECORD_NAME[recordType] ?? `type_${recordType}`;
  }
}
