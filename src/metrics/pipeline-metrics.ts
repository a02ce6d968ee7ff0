// The collector's own pipeline metrics. They live in the same SeriesStore as exporter series
// (owner "collector"), so one serializer covers both. Each is a typed object declared here once;
// the collector updates them through these objects, never by name.
import { RECORDS } from '../ingest/generated/events.js';
import { Meter, type Counter, type CounterSeries, type Gauge, type GaugeSeries } from './meter.js';
import { SensorStats } from './sensor-stats.js';
import type { SeriesStore } from './store.js';

export class PipelineMetrics {
  /** Per-sensor and per-record-type counts, read by /metrics and the status API alike. */
  readonly sensors: SensorStats;
  readonly frames: CounterSeries;
  readonly framesMalformed: CounterSeries;
  readonly framesLost: CounterSeries;
  readonly framesTruncated: CounterSeries;
  readonly framesUnknownType: CounterSeries;
  readonly frameSkippedBytes: CounterSeries;
  readonly helperRestarts: CounterSeries;
  readonly helperUp: GaugeSeries;
  readonly helperStalls: CounterSeries;
  /** Labelled `version`, `kernel`: set when a helper says HELLO. */
  readonly helperInfo: Gauge;
  /** Set at READY (absent before). */
  readonly helperLoadSeconds: Gauge;
  readonly helperAttachSeconds: Gauge;
  /** By `hierarchy`. */
  readonly cgroupLookups: Counter;
  readonly cgroupUnknown: Counter;
  readonly cgroupRescans: Counter;
  readonly cgroupRescanSeconds: Counter;
  readonly cgroupEntries: Gauge;
  readonly blockDeviceUnknown: CounterSeries;
  /** By `metric`. */
  readonly seriesRefused: Counter;
  /** By record type (interned up front: the per-frame path is one lookup). */
  private readonly processed: (CounterSeries | undefined)[] = [];

  constructor(store: SeriesStore) {
    const m = new Meter(store);
    const received = m.counter('bpfwasm_events_received_total', 'Event records received from the helper, by record type', ['type']);
    const processed = m.counter('bpfwasm_events_processed_total', 'Event records handed to every subscribed exporter, by record type', ['type']);
    const written = m.counter('bpfwasm_helper_records_written_total', 'Event records the helper reports having written, by record type', ['type']);
    const ringDrops = m.counter('bpfwasm_sensor_ring_drops_total', 'Events lost in the kernel because the ring buffer was full, by sensor and CPU', ['sensor', 'cpu']);
    const mapFull = m.counter('bpfwasm_sensor_map_full_total', 'Map inserts that failed because a tracking or aggregation map was full: data lost in the kernel, by sensor and CPU', ['sensor', 'cpu']);
    const submitted = m.counter('bpfwasm_sensor_events_submitted_total', 'Events the BPF programs submitted to the ring buffer, by sensor and CPU', ['sensor', 'cpu']);
    const programRuns = m.counter('bpfwasm_bpf_program_runs_total', 'Times each BPF program ran (BPF_ENABLE_STATS)', ['sensor', 'program']);
    const programRunSeconds = m.counter('bpfwasm_bpf_program_run_seconds_total', 'CPU time spent in each BPF program (BPF_ENABLE_STATS)', ['sensor', 'program']);
    this.frames = m.counter('bpfwasm_frames_total', 'Protocol frames decoded from the helper').series();
    this.framesMalformed = m.counter('bpfwasm_frames_malformed_total', 'Frames that failed a check and were skipped (the decoder resynchronised)').series();
    this.framesLost = m.counter('bpfwasm_frames_lost_total', 'Frames missing according to their sequence numbers').series();
    this.framesTruncated = m.counter('bpfwasm_frames_truncated_total', 'Helper streams that ended in the middle of a frame').series();
    this.framesUnknownType = m.counter('bpfwasm_frames_unknown_type_total', 'EVENTS frames of a record type this collector does not know, skipped').series();
    this.frameSkippedBytes = m.counter('bpfwasm_frame_skipped_bytes_total', 'Bytes skipped while resynchronising on the helper stream').series();
    this.helperRestarts = m.counter('bpfwasm_helper_restarts_total', 'Times the helper was restarted after it exited').series();
    this.helperUp = m.gauge('bpfwasm_helper_up', 'Whether the helper is running, its sensors are attached and its frames arrive (1) or not (0)').series();
    this.helperStalls = m.counter('bpfwasm_helper_stalls_total', 'Times a ready helper sent no frame, not even its periodic STATS, for 3 stats intervals (at least 2 s)').series();
    this.helperInfo = m.gauge('bpfwasm_helper_info', 'Helper build and kernel, as labels', ['version', 'kernel']);
    this.helperLoadSeconds = m.gauge('bpfwasm_helper_load_seconds', 'Time the helper took to open and load its sensors at its last start');
    this.helperAttachSeconds = m.gauge('bpfwasm_helper_attach_seconds', 'Time the helper took to attach its sensors at its last start');
    const attached = m.gauge('bpfwasm_sensor_attached', 'Whether each sensor is loaded and attached', ['sensor']);
    const info = m.gauge('bpfwasm_sensor_info', 'Each sensor, 1, with its state (starting, attached, failed, disabled), the route its hooks took, and why it failed: the step and the first verifier or libbpf error line', ['sensor', 'state', 'route', 'reason']);
    this.cgroupLookups = m.counter('bpfwasm_cgroup_resolve_lookups_total', 'cgroup ids exporters asked to resolve into paths or labels, by hierarchy (v2, or memory when the memory controller is on cgroup v1)', ['hierarchy']);
    this.cgroupUnknown = m.counter('bpfwasm_cgroup_resolve_unknown_total', 'cgroup ids that resolved to no cgroup even after a rescan (or with the rescan rate-limited)', ['hierarchy']);
    this.cgroupRescans = m.counter('bpfwasm_cgroup_rescans_total', 'Walks of the cgroup tree to index cgroup ids', ['hierarchy']);
    this.cgroupRescanSeconds = m.counter('bpfwasm_cgroup_rescan_seconds_total', 'Time spent walking the cgroup tree', ['hierarchy']);
    this.cgroupEntries = m.gauge('bpfwasm_cgroup_resolve_entries', 'cgroups in the id index', ['hierarchy']);
    this.blockDeviceUnknown = m.counter('bpfwasm_block_device_resolve_unknown_total', 'Block device numbers that resolved to no device name').series();
    this.seriesRefused = m.counter('bpfwasm_metric_series_refused_total', 'Series refused because their metric reached metrics.maxSeriesPerMetric', ['metric']);

    this.sensors = new SensorStats({ received, written, ringDrops, mapFull, submitted, programRuns, programRunSeconds, attached, info });
    for (const r of RECORDS) this.processed[r.id] = processed.series(r.name);
  }

  /** Hot path, once per EVENTS frame. */
  onReceived(recordType: number, count: number): void {
    this.sensors.onReceived(recordType, count);
  }

  onProcessed(recordType: number, count: number): void {
    this.processed[recordType]?.inc(count);
  }
}
