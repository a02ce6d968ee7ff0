// `bpfwasm status` and `bpfwasm exporters list` as tables.
import type { ApiExporterStatus, ApiSensorStatus, ApiStatus } from '../../api/status.js';
import { renderTable } from './table.js';

export function renderStatus(s: ApiStatus, width?: number): string {
  const lines = [
    `collector ${s.collector_version}, up ${uptime(Number(s.uptime_seconds))}; helper ${s.helper_version || '?'} ${s.helper_up ? 'up' : 'DOWN'}, ${s.helper_restarts} restarts; kernel ${s.kernel || '?'}`,
    `events received ${s.events_received}, lost in the pipe ${s.events_lost_in_pipe}; series ${s.series}`,
    '',
    ...renderTable(
      [
        { header: 'SENSOR' }, { header: 'STATE' }, { header: 'ROUTE' }, { header: 'SUBMITTED', align: 'right' }, { header: 'RING DROPS', align: 'right' },
        { header: 'MAP FULL', align: 'right' }, { header: 'PROG RUNS', align: 'right' }, { header: 'PROG CPU', align: 'right' },
      ],
      s.sensors.map((x) => [
        x.name, sensorState(x), x.route || '-', String(x.events_submitted), String(x.ring_drops),
        String(x.map_full), String(x.program_runs), `${Number(x.program_run_seconds).toFixed(3)}s`,
      ]),
      width,
    ),
    ...failedLines(s.sensors),
    '',
    ...(s.exporters.length ? renderExporters(s.exporters, width) : ['no exporters reported']),
  ];
  return `${lines.join('\n')}\n`;
}

export function renderExporters(list: readonly ApiExporterStatus[], width?: number): string[] {
  return renderTable(
    [
      { header: 'EXPORTER' }, { header: 'VERSION' }, { header: 'STATE' }, { header: 'EVENTS', align: 'right' },
      { header: 'ERRORS', align: 'right' }, { header: 'DROPPED', align: 'right' }, { header: 'SERIES', align: 'right' },
      { header: 'SHADOW' }, { header: 'SOURCE' },
    ],
    list.map((e) => {
      const c = e.current;
      const errors = c ? Number(c.traps) + Number(c.timeouts) : 0;
      return [
        e.name, c?.version ?? '-', c?.state ?? 'failed', String(c?.events ?? 0), String(errors), String(c?.dropped_events ?? 0),
        String(c?.series ?? 0), e.shadow ? `${e.shadow.version} ${e.shadow.state}` : '-', c?.source ?? '-',
      ];
    }),
    width,
  );
}

/** Why each failed sensor is off, in full, under the table: a verifier line does not fit a cell. */
function failedLines(sensors: readonly ApiSensorStatus[]): string[] {
  const failed = sensors.filter((x) => x.state === 'failed');
  return failed.length ? ['', ...failed.map((x) =>
    `sensor ${x.name} ${x.required ? '(required) ' : ''}off: ${x.reason}${exportersOff(x.exporters_off)}`)] : [];
}

function exportersOff(names: readonly string[]): string {
  if (!names.length) return '';
  return `; exporter${names.length === 1 ? '' : 's'} ${names.join(', ')} not loaded`;
}

function sensorState(x: ApiSensorStatus): string {
  switch (x.state) {
    case 'disabled': return 'off';
    case 'failed': return 'FAILED';
    case 'detached': return 'DETACHED';
    case 'attached': case 'starting': return x.state;
    // A collector without sensor states (older): what the attached gauge says.
    default: return !x.enabled ? 'off' : x.attached ? 'attached' : 'DETACHED';
  }
}

function uptime(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}
