#!/usr/bin/env node
// Generates the Grafana dashboards in this directory. The JSON files are the product (Grafana
// provisions them as they are); this script is how they are written, so panels stay uniform.
//   node dashboards/generate.mjs          rewrites the JSON files
//   node dashboards/generate.mjs --check  fails if a JSON file differs from what it would write
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('.', import.meta.url));

/** Grafana's dashboard schema version at the time of writing (Grafana 12). */
export const SCHEMA_VERSION = 42;

const DS = { type: 'prometheus', uid: '${datasource}' };

/** Every series a dashboard shows belongs to the selected nodes and collector instances (All: the fleet). */
const SCOPE = 'node=~"$node", instance=~"$instance"';

/** `name{scope, extra}`. */
const sel = (name, extra = '') => `${name}{${SCOPE}${extra ? `, ${extra}` : ''}}`;
/** `rate(name{…}[$__rate_interval])`. */
const rate = (name, extra = '') => `rate(${sel(name, extra)}[$__rate_interval])`;
/** `histogram_quantile(q, sum by (le, …) (rate(name_bucket{…}[…])))`. */
const quantile = (q, hist, by = [], extra = '') =>
  `histogram_quantile(${q}, sum by (${['le', ...by].join(', ')}) (${rate(`${hist}_bucket`, extra)}))`;

const FLAMEGRAPH = 'http://${instance}/flamegraph?seconds=10';
const flamegraphLink = { title: 'CPU flamegraph of ${instance} (10 s)', url: FLAMEGRAPH, targetBlank: true };

/** Lays panels out left to right, wrapping at Grafana's 24 columns, with a row panel per section. */
class Layout {
  panels = [];
  #id = 1;
  #x = 0;
  #y = 0;
  #rowHeight = 0;

  row(title) {
    this.#newline();
    this.panels.push({ type: 'row', title, id: this.#id++, collapsed: false, panels: [], gridPos: { h: 1, w: 24, x: 0, y: this.#y } });
    this.#y += 1;
  }

  add(panel, w = 12, h = 8) {
    if (this.#x + w > 24) this.#newline();
    this.panels.push({ id: this.#id++, ...panel, gridPos: { h, w, x: this.#x, y: this.#y } });
    this.#x += w;
    this.#rowHeight = Math.max(this.#rowHeight, h);
  }

  #newline() {
    this.#y += this.#rowHeight;
    this.#x = 0;
    this.#rowHeight = 0;
  }
}

/** Targets from [expr, legend] pairs, refIds A, B, … */
function targets(queries, extra = {}) {
  return queries.map(([expr, legendFormat], i) => ({
    datasource: DS, refId: String.fromCharCode(65 + i), expr, legendFormat, range: true, editorMode: 'code', ...extra,
  }));
}

function timeseries(title, description, queries, { unit = 'short', links, stack = false, steps = false } = {}) {
  return {
    type: 'timeseries', title, description, datasource: DS,
    targets: targets(queries),
    fieldConfig: {
      defaults: {
        unit,
        min: 0,
        custom: {
          drawStyle: 'line', lineInterpolation: steps ? 'stepAfter' : 'linear', lineWidth: 1, fillOpacity: stack ? 60 : 10, showPoints: 'never',
          spanNulls: false, stacking: { mode: stack ? 'normal' : 'none', group: 'A' },
        },
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } },
    ...(links ? { links } : {}),
  };
}

/** A heatmap of a classic histogram: per-bucket rates, `le` as the y axis. */
function heatmap(title, description, hist, { links } = {}) {
  return {
    type: 'heatmap', title, description, datasource: DS,
    targets: [{
      datasource: DS, refId: 'A', expr: `sum by (le) (${rate(`${hist}_bucket`)})`, legendFormat: '{{le}}',
      format: 'heatmap', range: true, editorMode: 'code',
    }],
    fieldConfig: { defaults: { custom: { hideFrom: { legend: false, tooltip: false, viz: false }, scaleDistribution: { type: 'linear' } } }, overrides: [] },
    options: {
      calculate: false,
      cellGap: 1,
      color: { mode: 'scheme', scheme: 'Oranges', scale: 'exponential', exponent: 0.5, steps: 64, reverse: false, fill: 'dark-orange' },
      yAxis: { axisPlacement: 'left', unit: 's', reverse: false },
      rowsFrame: { layout: 'auto' },
      cellValues: { unit: 'ops' },
      filterValues: { le: 1e-9 },
      legend: { show: true },
      tooltip: { mode: 'single', yHistogram: true, showColorScale: false },
      exemplars: { color: 'rgba(255,0,255,0.7)' },
    },
    ...(links ? { links } : {}),
  };
}

function stat(title, description, queries, { unit = 'short', thresholds } = {}) {
  return {
    type: 'stat', title, description, datasource: DS,
    targets: targets(queries),
    fieldConfig: {
      defaults: {
        unit,
        thresholds: thresholds ?? { mode: 'absolute', steps: [{ color: 'green', value: null }] },
        mappings: [],
      },
      overrides: [],
    },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none', textMode: 'auto', justifyMode: 'auto', orientation: 'auto' },
  };
}

function table(title, description, queries) {
  return {
    type: 'table', title, description, datasource: DS,
    targets: targets(queries, { range: false, instant: true, format: 'table' }),
    fieldConfig: { defaults: {}, overrides: [] },
    options: { showHeader: true, sortBy: [{ displayName: 'kills', desc: true }] },
    transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'kills' } } }],
  };
}

const VARIABLES = [
  { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', refresh: 1, regex: '', hide: 0, current: {}, options: [], includeAll: false, multi: false },
  {
    // Set by federation (`federate.externalLabels`, default node=<hostname>), remote write, or a
    // scrape config's relabeling; "All" also matches collectors scraped without it.
    name: 'node', label: 'Node', type: 'query', datasource: DS,
    query: 'label_values(bpfwasm_helper_up, node)', definition: 'label_values(bpfwasm_helper_up, node)',
    refresh: 2, sort: 1, regex: '', hide: 0, current: {}, options: [], includeAll: true, allValue: '.*', multi: false,
  },
  {
    name: 'instance', label: 'Collector', type: 'query', datasource: DS,
    query: 'label_values(bpfwasm_helper_up{node=~"$node"}, instance)', definition: 'label_values(bpfwasm_helper_up{node=~"$node"}, instance)',
    refresh: 2, sort: 1, regex: '', hide: 0, current: {}, options: [], includeAll: true, allValue: '.*', multi: true,
  },
];

function dashboard({ uid, title, description, panels, variables = [] }) {
  return {
    annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
    description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [
      { title: 'bpfwasm', type: 'dashboards', tags: ['bpfwasm'], asDropdown: true, includeVars: true, keepTime: true, icon: 'external link', targetBlank: false, tooltip: '', url: '' },
      { title: 'CPU flamegraph (10 s)', type: 'link', url: FLAMEGRAPH, targetBlank: true, icon: 'external link', tooltip: 'Profile this node for 10 s with the collector\'s /flamegraph', asDropdown: false, includeVars: false, keepTime: false, tags: [] },
    ],
    panels,
    refresh: '30s',
    schemaVersion: SCHEMA_VERSION,
    tags: ['bpfwasm'],
    templating: { list: [...VARIABLES, ...variables] },
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    title,
    uid,
    version: 1,
    weekStart: '',
  };
}

function nodeOverview() {
  const l = new Layout();
  const fg = [flamegraphLink];

  l.row('Processes');
  l.add(timeseries('Process churn', 'execve, exits, forks and thread creations per second on the node (process sensor).', [
    [`sum(${rate('bpfwasm_process_exec_total')})`, 'exec'],
    [`sum(${rate('bpfwasm_process_exit_total')})`, 'exit'],
    [`sum(${rate('bpfwasm_process_fork_total')})`, 'fork'],
    [`sum(${rate('bpfwasm_thread_create_total')})`, 'thread create'],
  ], { unit: 'ops', links: fg }), 8);
  l.add(timeseries('Execs by command (top 10)', 'Successful execve per second, by the new command name.', [
    [`topk(10, sum by (comm) (${rate('bpfwasm_process_exec_total')}))`, '{{comm}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Failed exits by code', 'Exits with a non-zero code, or killed by a signal, per second.', [
    [`sum by (exit_code) (${rate('bpfwasm_process_exit_total', 'exit_code!="0"')})`, '{{exit_code}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Process lifetime', 'How long processes that exited lived: quantiles of the lifetime histogram.', [
    [quantile(0.5, 'bpfwasm_process_lifetime_seconds'), 'p50'],
    [quantile(0.99, 'bpfwasm_process_lifetime_seconds'), 'p99'],
  ], { unit: 's' }), 24, 7);

  l.row('Syscalls (opt-in sensor, scoped by pid, comm or cgroup)');
  l.add(heatmap('Syscall latency', 'Latency of the traced syscalls: per-bucket rate of the histogram.', 'bpfwasm_syscall_latency_seconds'), 12);
  l.add(timeseries('Syscall latency quantiles', 'All traced syscalls together.', [
    [quantile(0.5, 'bpfwasm_syscall_latency_seconds'), 'p50'],
    [quantile(0.99, 'bpfwasm_syscall_latency_seconds'), 'p99'],
  ], { unit: 's' }), 12);
  l.add(timeseries('Syscall p99 by syscall (top 10)', 'The ten slowest syscalls at the 99th percentile.', [
    [`topk(10, ${quantile(0.99, 'bpfwasm_syscall_latency_seconds', ['syscall'])})`, '{{syscall}}'],
  ], { unit: 's' }), 8);
  l.add(timeseries('Syscalls per second (top 10)', 'Calls per second of the ten busiest syscalls.', [
    [`topk(10, sum by (syscall) (${rate('bpfwasm_syscall_latency_seconds_count')}))`, '{{syscall}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Syscall errors by errno', 'Failing syscalls per second, by syscall and error.', [
    [`sum by (syscall, errno) (${rate('bpfwasm_syscall_errors_total')})`, '{{syscall}} {{errno}}'],
  ], { unit: 'ops' }), 8);

  l.row('TCP');
  l.add(timeseries('Connections opened and closed', 'Per second, active (connect) and passive (accept).', [
    [`sum by (direction) (${rate('bpfwasm_tcp_connections_opened_total')})`, 'opened {{direction}}'],
    [`sum by (direction) (${rate('bpfwasm_tcp_connections_closed_total')})`, 'closed {{direction}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Retransmits', 'Retransmitted segments per second, by process and remote port.', [
    [`sum by (comm, remote_port) (${rate('bpfwasm_tcp_retransmits_total')})`, '{{comm}} → :{{remote_port}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Connection duration', 'How long closed connections lasted, by direction.', [
    [quantile(0.5, 'bpfwasm_tcp_connection_duration_seconds', ['direction']), 'p50 {{direction}}'],
    [quantile(0.99, 'bpfwasm_tcp_connection_duration_seconds', ['direction']), 'p99 {{direction}}'],
  ], { unit: 's' }), 8);
  l.add(timeseries('TCP throughput', 'Payload bytes per second sent and received by tracked connections.', [
    [`sum(${rate('bpfwasm_tcp_sent_bytes_total')})`, 'sent'],
    [`sum(${rate('bpfwasm_tcp_received_bytes_total')})`, 'received'],
  ], { unit: 'Bps' }), 12);
  l.add(timeseries('Connections by command (top 10)', 'Connections opened per second, by process.', [
    [`topk(10, sum by (comm) (${rate('bpfwasm_tcp_connections_opened_total')}))`, '{{comm}}'],
  ], { unit: 'ops' }), 12);
  l.add(timeseries('Top talkers (top 10)', 'Payload bytes per second sent plus received, by process and remote port.', [
    [`topk(10, sum by (comm, remote_port) (${rate('bpfwasm_tcp_sent_bytes_total')}) + sum by (comm, remote_port) (${rate('bpfwasm_tcp_received_bytes_total')}))`, '{{comm}} → :{{remote_port}}'],
  ], { unit: 'Bps' }), 24);

  l.row('Block I/O');
  l.add(heatmap('Block I/O latency', 'Issue to completion, all devices and operations.', 'bpfwasm_block_io_latency_seconds'), 12);
  l.add(timeseries('Block I/O latency by device and operation', 'p50 and p99 from issue to completion.', [
    [quantile(0.5, 'bpfwasm_block_io_latency_seconds', ['device', 'operation']), 'p50 {{device}} {{operation}}'],
    [quantile(0.99, 'bpfwasm_block_io_latency_seconds', ['device', 'operation']), 'p99 {{device}} {{operation}}'],
  ], { unit: 's' }), 12);
  l.add(timeseries('Block I/O throughput', 'Bytes per second by device and operation.', [
    [`sum by (device, operation) (${rate('bpfwasm_block_io_bytes_total')})`, '{{device}} {{operation}}'],
  ], { unit: 'Bps' }), 12);
  l.add(timeseries('Block I/O operations', 'Completed requests per second by device and operation.', [
    [`sum by (device, operation) (${rate('bpfwasm_block_io_latency_seconds_count')})`, '{{device}} {{operation}}'],
  ], { unit: 'iops' }), 12);

  l.row('CPU run queue');
  l.add(heatmap('Run-queue latency', 'Time runnable tasks waited for a CPU.', 'bpfwasm_runqueue_latency_seconds', { links: fg }), 12);
  l.add(timeseries('Run-queue latency quantiles', 'Node-wide; with runqlat.perCgroup the histogram is split by cgroup and summed here.', [
    [quantile(0.5, 'bpfwasm_runqueue_latency_seconds'), 'p50'],
    [quantile(0.99, 'bpfwasm_runqueue_latency_seconds'), 'p99'],
    [quantile(0.999, 'bpfwasm_runqueue_latency_seconds'), 'p99.9'],
  ], { unit: 's', links: fg }), 12);

  l.row('OOM kills');
  // Kills per interval: increase(), plus a series new in the interval counted whole (a command's
  // first kill creates its series at 1, which increase() cannot see), and 0 rather than "No data"
  // before the first kill.
  l.add(timeseries('OOM kills', 'Processes the OOM killer killed in each interval, by command and memory cgroup.', [
    [`sum by (comm, memcg) (increase(${sel('bpfwasm_oom_kills_total')}[$__rate_interval]) > 0 or (${sel('bpfwasm_oom_kills_total')} unless ${sel('bpfwasm_oom_kills_total')} offset $__rate_interval)) or vector(0)`, '{{comm}} in {{memcg}}'],
  ], { steps: true }), 12);
  l.add(table('OOM kills since the collector started', 'Every command and memory cgroup the OOM killer struck; each kill is also a structured log event.', [
    [`sum by (comm, memcg) (${sel('bpfwasm_oom_kills_total')})`, ''],
  ]), 12);

  return dashboard({
    uid: 'bpfwasm-node-overview',
    title: 'bpfwasm / Node overview',
    description: 'What the kernel sensors see on one node: processes, syscalls, TCP, block I/O, run queue, OOM kills.',
    panels: l.panels,
  });
}

function collectorHealth() {
  const l = new Layout();

  l.row('Events');
  l.add(timeseries('Events received by record type', 'Records per second from the helper.', [
    [`sum by (type) (${rate('bpfwasm_events_received_total')})`, '{{type}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Events processed by record type', 'Records per second handed to every subscribed exporter.', [
    [`sum by (type) (${rate('bpfwasm_events_processed_total')})`, '{{type}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Events submitted by sensor', 'Events per second the BPF programs put in the ring buffer.', [
    [`sum by (sensor) (${rate('bpfwasm_sensor_events_submitted_total')})`, '{{sensor}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Ring buffer drops by sensor', 'Events lost in the kernel to a full ring buffer: raise the sensor\'s ringBytes.', [
    [`sum by (sensor) (${rate('bpfwasm_sensor_ring_drops_total')})`, '{{sensor}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Full maps by sensor', 'Inserts refused by a full tracking or aggregation map: data lost in the kernel.', [
    [`sum by (sensor) (${rate('bpfwasm_sensor_map_full_total')})`, '{{sensor}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Helper protocol errors', 'Frames lost, malformed or of an unknown type, and truncated streams, per second. Zero when healthy.', [
    [`sum(${rate('bpfwasm_frames_lost_total')})`, 'lost'],
    [`sum(${rate('bpfwasm_frames_malformed_total')})`, 'malformed'],
    [`sum(${rate('bpfwasm_frames_unknown_type_total')})`, 'unknown type'],
    [`sum(${rate('bpfwasm_frames_truncated_total')})`, 'truncated'],
  ], { unit: 'ops' }), 8);

  l.row('Exporters');
  l.add(timeseries('Exporter batches', 'Batches per second handed to each exporter.', [
    [`sum by (exporter) (${rate('bpfwasm_exporter_batches_total')})`, '{{exporter}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Exporter events', 'Event records per second handed to each exporter.', [
    [`sum by (exporter) (${rate('bpfwasm_exporter_events_total')})`, '{{exporter}}'],
  ], { unit: 'ops' }), 8);
  l.add(heatmap('Exporter batch time', 'Time each batch spent in bpfwasm_on_batch, in the exporter\'s worker, all exporters.',
    'bpfwasm_exporter_batch_duration_seconds'), 12);
  l.add(timeseries('Exporter batch time p99', 'p99 batch time per exporter (histogram_quantile over rate).', [
    [quantile(0.99, 'bpfwasm_exporter_batch_duration_seconds', ['exporter']), '{{exporter}}'],
  ], { unit: 's' }), 12);
  l.add(stat('Exporter state', 'Each exporter\'s current state (its name): loading, loaded, quarantined, shadow or failed.', [
    [`max by (exporter, state) (${sel('bpfwasm_exporter_state')}) == 1`, '{{exporter}}: {{state}}'],
  ]), 8);
  l.add(timeseries('Exporter restarts and drops', 'Restarts after quarantine, and batches dropped per reason (queue_full, not_running, aborted), per second.', [
    [`sum by (exporter) (${rate('bpfwasm_exporter_restarts_total')})`, '{{exporter}} restarts'],
    [`sum by (exporter, reason) (${rate('bpfwasm_exporter_dropped_events_total')})`, '{{exporter}} dropped {{reason}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Exporter errors by kind', 'trap, timeout, crash, returned_error, rejected_update and rejected_call per second.', [
    [`sum by (exporter, kind) (${rate('bpfwasm_exporter_errors_total')})`, '{{exporter}} {{kind}}'],
  ], { unit: 'ops' }), 8);
  l.add(stat('Traps in range', 'WebAssembly traps per exporter over the dashboard\'s time range.', [
    [`sum by (exporter) (increase(${sel('bpfwasm_exporter_errors_total', 'kind="trap"')}[$__range]))`, '{{exporter}}'],
  ], { thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'red', value: 1 }] } }), 8);
  l.add(stat('Exporters up', '1 when the exporter is loaded, 0 when it failed to load.', [
    [`min by (exporter) (${sel('bpfwasm_exporter_up')})`, '{{exporter}}'],
  ], { thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] } }), 8);
  l.add(timeseries('Series per exporter', 'Series each exporter owns (bounded by its series limit).', [
    [`sum by (exporter) (${sel('bpfwasm_exporter_series')})`, '{{exporter}}'],
  ]), 8);
  l.add(timeseries('Refused series', 'Series per second refused past an exporter\'s series limit.', [
    [`sum by (exporter) (${rate('bpfwasm_exporter_series_refused_total')})`, '{{exporter}}'],
  ], { unit: 'ops' }), 8);
  l.add(timeseries('Exporter log lines dropped', 'Lines per second over the per-exporter log rate limit.', [
    [`sum by (exporter) (${rate('bpfwasm_exporter_logs_dropped_total')})`, '{{exporter}}'],
  ], { unit: 'ops' }), 8);

  l.row('eBPF programs');
  l.add(timeseries('BPF program CPU', 'CPU time spent in each program, as a share of one CPU (BPF_ENABLE_STATS).', [
    [`sum by (sensor, program) (${rate('bpfwasm_bpf_program_run_seconds_total')})`, '{{sensor}}/{{program}}'],
  ], { unit: 'percentunit', stack: true }), 8);
  l.add(timeseries('BPF program run time', 'Average time per run of each program.', [
    [`sum by (sensor, program) (${rate('bpfwasm_bpf_program_run_seconds_total')}) / sum by (sensor, program) (${rate('bpfwasm_bpf_program_runs_total')})`, '{{sensor}}/{{program}}'],
  ], { unit: 's' }), 8);
  l.add(timeseries('BPF program runs', 'Runs per second of each program.', [
    [`sum by (sensor, program) (${rate('bpfwasm_bpf_program_runs_total')})`, '{{sensor}}/{{program}}'],
  ], { unit: 'ops' }), 8);

  l.row('Helper');
  l.add(stat('Helper up', '1 when the helper runs with its sensors attached.', [
    [`min(${sel('bpfwasm_helper_up')})`, 'up'],
  ], { thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] } }), 4, 6);
  l.add(stat('Helper restarts in range', 'Times the collector restarted the helper after it exited.', [
    [`sum(increase(${sel('bpfwasm_helper_restarts_total')}[$__range]))`, 'restarts'],
  ], { thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }] } }), 4, 6);
  l.add(stat('Sensors attached', 'Each enabled sensor: 1 when loaded and attached.', [
    [`min by (sensor) (${sel('bpfwasm_sensor_attached')})`, '{{sensor}}'],
  ], { thresholds: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'green', value: 1 }] } }), 6, 6);
  l.add(stat('Sensors off', 'Enabled sensors the kernel refused (no fallback route): the others run. Why: bpfwasm_sensor_info{state="failed"} (its reason label), bpfwasm status, or the collector log.', [
    [`count(${sel('bpfwasm_sensor_info', 'state="failed"')} == 1) or vector(0)`, 'off'],
  ], { thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }] } }), 4, 6);
  l.add(timeseries('Helper load and attach time', 'At the helper\'s last start.', [
    [`max(${sel('bpfwasm_helper_load_seconds')})`, 'load'],
    [`max(${sel('bpfwasm_helper_attach_seconds')})`, 'attach'],
  ], { unit: 's' }), 6, 6);

  l.row('Collector process');
  l.add(timeseries('Collector memory', 'Resident set size of the collector (the helper is a separate process), and its V8 heap.', [
    [`sum(${sel('process_resident_memory_bytes')})`, 'RSS'],
    [`sum(${sel('nodejs_heap_size_used_bytes')})`, 'heap used'],
    [`sum(${sel('nodejs_external_memory_bytes')})`, 'external'],
  ], { unit: 'bytes' }), 8);
  l.add(timeseries('Collector CPU', 'CPU time of the collector process, as a share of one CPU.', [
    [`sum(${rate('process_cpu_seconds_total')})`, 'CPU'],
  ], { unit: 'percentunit', links: [flamegraphLink] }), 8);
  l.add(timeseries('Event loop lag', 'The collector\'s Node.js event loop delay.', [
    [`max(${sel('nodejs_eventloop_lag_p99_seconds')})`, 'p99'],
    [`max(${sel('nodejs_eventloop_lag_p50_seconds')})`, 'p50'],
  ], { unit: 's' }), 8);
  l.add(timeseries('cgroup resolution', 'cgroup ids resolved into paths and labels per second, and those that named no cgroup.', [
    [`sum by (hierarchy) (${rate('bpfwasm_cgroup_resolve_lookups_total')})`, 'lookups {{hierarchy}}'],
    [`sum by (hierarchy) (${rate('bpfwasm_cgroup_resolve_unknown_total')})`, 'unknown {{hierarchy}}'],
  ], { unit: 'ops' }), 12);
  l.add(timeseries('cgroup index size', 'cgroups in the id index.', [
    [`sum by (hierarchy) (${sel('bpfwasm_cgroup_resolve_entries')})`, '{{hierarchy}}'],
  ]), 12);

  return dashboard({
    uid: 'bpfwasm-collector-health',
    title: 'bpfwasm / Collector health',
    description: 'Is the collector keeping up, and what does it cost: events, drops, exporters, BPF program time, helper, memory.',
    panels: l.panels,
  });
}

/** Selects the current version's series of a rollout (no version label) or the candidates' (with one). */
const CURRENT = 'bpfwasm_exporter_version=""';
const CANDIDATE = 'bpfwasm_exporter_version!=""';

function exporterRollout() {
  const l = new Layout();
  const ex = 'exporter="$exporter"';
  // Both sides of each comparison: the current version from /metrics, the candidate from /metrics/shadow.
  const versus = (agg, metric, extra = '', by = '') => [
    [`${agg}${by ? ` by (${by}) ` : ''}(${rate(metric, [ex, CURRENT, extra].filter(Boolean).join(', '))})`, `current${by ? ` {{${by}}}` : ''}`],
    [`${agg} by (${['bpfwasm_exporter_version', by].filter(Boolean).join(', ')}) (${rate(metric, [ex, CANDIDATE, extra].filter(Boolean).join(', '))})`,
      `candidate {{bpfwasm_exporter_version}}${by ? ` {{${by}}}` : ''}`],
  ];
  const gauges = (metric) => [
    [`sum(${sel(metric, `${ex}, ${CURRENT}`)})`, 'current'],
    [`sum by (bpfwasm_exporter_version) (${sel(metric, `${ex}, ${CANDIDATE}`)})`, 'candidate {{bpfwasm_exporter_version}}'],
  ];
  const p99 = (versionMatcher) => `histogram_quantile(0.99, sum by (le${versionMatcher === CANDIDATE ? ', bpfwasm_exporter_version' : ''}) (${rate('bpfwasm_exporter_batch_duration_seconds_bucket', `${ex}, ${versionMatcher}`)}))`;

  l.row('The exporter: current version against its shadow candidate');
  l.add(stat('Candidates running', 'Shadow candidates on this collector (bpfwasm exporters load NAME FILE --shadow, or NAME.shadow.wasm in a watched directory).', [
    [`count(${sel('bpfwasm_exporter_state', `state="shadow", ${CANDIDATE}`)} == 1) or vector(0)`, 'candidates'],
  ]), 6, 6);
  l.add(stat('Swaps', 'Hot swaps of any exporter on this collector since it started: promotions and reloads (ok) and versions refused (rejected).', [
    [`sum by (result) (${sel('bpfwasm_exporter_reloads_total')})`, '{{result}}'],
  ]), 6, 6);
  l.add(timeseries('Events per second', 'Records each version ran through bpfwasm_on_batch. A candidate that keeps up shows the same rate.', versus('sum', 'bpfwasm_exporter_events_total'), { unit: 'ops' }), 12, 6);
  l.add(timeseries('Batch time p99', 'Time in one bpfwasm_on_batch call, 99th percentile, per version.', [
    [p99(CURRENT), 'current'], [p99(CANDIDATE), 'candidate {{bpfwasm_exporter_version}}'],
  ], { unit: 's', links: [flamegraphLink] }), 8);
  l.add(timeseries('Errors per second', 'Traps, deadline overruns, refused updates and calls, per version and kind. Zero when healthy.', versus('sum', 'bpfwasm_exporter_errors_total', '', 'kind'), { unit: 'ops' }), 8);
  l.add(timeseries('Dropped events per second', 'Events a version never ran: queue full, not running, aborted.', versus('sum', 'bpfwasm_exporter_dropped_events_total', '', 'reason'), { unit: 'ops' }), 8);
  l.add(timeseries('Series owned', 'Series each version keeps: a candidate with far more is a cardinality risk.', gauges('bpfwasm_exporter_series')), 12);
  l.add(timeseries('Linear memory', 'Size of each version\'s WebAssembly memory.', gauges('bpfwasm_exporter_memory_bytes'), { unit: 'bytes' }), 12);

  l.row('Its output: $metric');
  const metric = (versionMatcher) => rate('', `__name__="$metric", ${versionMatcher}`);
  l.add(timeseries('Rate of $metric', 'The chosen counter, summed over its labels, from each version: the candidate should agree with the current version before it is promoted.', [
    [`sum(${metric(CURRENT)})`, 'current'],
    [`sum by (bpfwasm_exporter_version) (${metric(CANDIDATE)})`, 'candidate {{bpfwasm_exporter_version}}'],
  ], { unit: 'ops' }), 12);
  l.add(timeseries('Candidate against current', '(candidate − current) / current for the chosen counter\'s rate. Near 0 when the candidate counts what the current version counts.', [
    [`(sum(${metric(CANDIDATE)}) - sum(${metric(CURRENT)})) / sum(${metric(CURRENT)})`, 'difference'],
  ], { unit: 'percentunit' }), 12);

  // The same comparison as deploy/prometheus/rollout-rules.yml, over every selected node running a candidate.
  l.row('Fleet: every node running a candidate of $exporter');
  const fleet = (metric, versionMatcher) => `rate(${metric}{node=~"$node", ${ex}, ${versionMatcher}}[$__rate_interval])`;
  const withCandidate = `on (instance, exporter) (bpfwasm_exporter_state{node=~"$node", ${ex}, state="shadow", ${CANDIDATE}} == 1)`;
  l.add(timeseries('Fleet: candidate / current events, by version', 'Events each candidate ran, over the events the current version ran on the same nodes (deploy/prometheus/rollout-rules.yml; the BpfwasmShadowCandidateDiverges alert fires past 2% off 1). 1 when the candidate keeps up everywhere: then promote by moving the stable tag onto its digest.', [
    [`sum by (bpfwasm_exporter_version) (${fleet('bpfwasm_exporter_events_total', CANDIDATE)}) / on () group_left () sum(${fleet('bpfwasm_exporter_events_total', CURRENT)} and ${withCandidate})`,
      'candidate {{bpfwasm_exporter_version}}'],
  ], { unit: 'percentunit' }), 16);
  l.add(timeseries('Fleet: nodes running each candidate', 'Collectors (of the selected nodes) running each candidate version as a shadow: how far a canary tag has reached.', [
    [`count by (bpfwasm_exporter_version) (bpfwasm_exporter_state{node=~"$node", ${ex}, state="shadow", ${CANDIDATE}} == 1)`, 'candidate {{bpfwasm_exporter_version}}'],
  ]), 8);

  return dashboard({
    uid: 'bpfwasm-exporter-rollout',
    title: 'bpfwasm / Exporter rollout',
    description: 'A shadow candidate against the current version of one exporter, before promoting it (bpfwasm exporters promote NAME) or aborting (bpfwasm exporters abort NAME). Needs both /metrics and /metrics/shadow scraped.',
    panels: l.panels,
    variables: [
      {
        name: 'exporter', label: 'Exporter', type: 'query', datasource: DS,
        query: `label_values(bpfwasm_exporter_state{node=~"$node", instance=~"$instance", state="shadow", ${CANDIDATE}}, exporter)`,
        definition: `label_values(bpfwasm_exporter_state{node=~"$node", instance=~"$instance", state="shadow", ${CANDIDATE}}, exporter)`,
        refresh: 2, sort: 1, regex: '', hide: 0, current: {}, options: [], includeAll: false, multi: false,
      },
      {
        // Counters a candidate of this collector exports: the outputs there are to compare.
        name: 'metric', label: 'Counter', type: 'query', datasource: DS,
        query: `label_values({__name__=~"bpfwasm_.+_total", node=~"$node", instance=~"$instance", ${CANDIDATE}}, __name__)`,
        definition: `label_values({__name__=~"bpfwasm_.+_total", node=~"$node", instance=~"$instance", ${CANDIDATE}}, __name__)`,
        refresh: 2, sort: 1, regex: '/^(?!bpfwasm_exporter_)/', hide: 0, current: {}, options: [], includeAll: false, multi: false,
      },
    ],
  });
}

/** File name → dashboard. */
export function dashboards() {
  return {
    'bpfwasm-node-overview.json': nodeOverview(),
    'bpfwasm-collector-health.json': collectorHealth(),
    'bpfwasm-exporter-rollout.json': exporterRollout(),
  };
}

export const render = (dash) => `${JSON.stringify(dash, null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, dash] of Object.entries(dashboards())) {
    const path = join(DIR, file);
    if (!check) writeFileSync(path, render(dash));
    else if (readFileSync(path, 'utf8') !== render(dash)) {
      console.error(`dashboards/${file} is not what dashboards/generate.mjs writes: run node dashboards/generate.mjs`);
      stale++;
    }
  }
  process.exit(stale ? 1 : 0);
}
