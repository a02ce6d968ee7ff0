// The CLI's pure renderers against golden output (test/api/golden/*.txt): event lines fitted to
// 120, 60 and 40 columns, the status page, the exporter table cut to a narrow terminal.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ApiEvent } from '../../src/api/event-decode.js';
import type { ApiExporterVersion, ApiStatus } from '../../src/api/status.js';
import { eventHeader, eventJson, eventLayout, formatEvent, lostLine } from '../../src/cli/render/events.js';
import { renderExporters, renderStatus } from '../../src/cli/render/status.js';
import { renderTable, truncate } from '../../src/cli/render/table.js';

const GOLDEN = join(import.meta.dirname, 'golden');

/** Compares with the golden file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function golden(name: string, actual: string): void {
  const path = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

const base = { timestamp_ns: '1', wall_time_unix_ns: '1764624000123000000', cpu: 0, pid: 4242, tgid: 4242, cgroup_id: '1', cgroup: '', comm: 'true' };
const EVENTS: ApiEvent[] = [
  {
    ...base, type: 'process_exec', comm: 'ls', cgroup: '/user.slice/user-1000.slice/session-3.scope',
    fields: { ppid: '100', uid: '1000', argc: '40', args_count: '20', args_size: '60', flags: '1', filename: '/usr/bin/ls', args: 'ls -la /tmp/a \'b c\' …', args_lost: '20' },
  },
  { ...base, type: 'process_exit', comm: 'a-very-long-cmd', fields: { ppid: '100', exit_code: '0', exit_signal: '9', exit_signal_name: 'SIGKILL', lifetime_ns: '2500000' } },
  { ...base, type: 'process_exit', fields: { ppid: '1', exit_code: '3', exit_signal: '0', lifetime_ns: '1500000000' } },
  { ...base, type: 'process_fork', comm: 'bash', fields: { child_pid: '4300', child_tgid: '4300' } },
  {
    ...base, type: 'tcp_close', comm: 'curl', cgroup: '/system.slice/nginx.service',
    fields: { local_ip: '10.0.0.1', local_port: '40000', remote_ip: '93.184.216.34', remote_port: '443', direction: '1', duration_ns: '1200000000', bytes_received: '5120', bytes_acked: '300', family: '2', local_addr: '0a000001', remote_addr: '5db8d822' },
  },
  { ...base, type: 'oom_kill', comm: 'stress', fields: { victim_tgid: '77', victim_comm: 'hog', rss_pages: '1000' } },
  {
    ...base, type: 'tcp_open', comm: 'nginx',
    fields: { local_ip: '127.0.0.1', local_port: '8080', remote_ip: '127.0.0.1', remote_port: '44100', direction: '2', family: '2', local_addr: '7f000001', remote_addr: '7f000001' },
  },
];

const version = (o: Partial<ApiExporterVersion>): ApiExporterVersion => ({
  version: 'abcdef012345', state: 'loaded', source: 'builtin', signed_by: '', events: 1200, batches: 10, traps: 1, timeouts: 2,
  restarts: 0, dropped_events: 3, series: 40, last_error: '', loaded_at_unix_ms: 0, ...o,
});

const STATUS: ApiStatus = {
  collector_version: '0.1.0', helper_version: '0.1.0', kernel: '6.18.0', helper_up: true, helper_restarts: 1, uptime_seconds: 3725.5,
  sensors: [
    {
      name: 'process', enabled: true, attached: true, events_submitted: 5000, ring_drops: 0, map_full: 0, program_runs: 15000, program_run_seconds: 0.0123,
      state: 'attached', required: true, route: 'tp_btf', reason: '', exporters_off: [],
    },
    {
      name: 'syscalls', enabled: false, attached: false, events_submitted: 0, ring_drops: 0, map_full: 0, program_runs: 0, program_run_seconds: 0,
      state: 'disabled', required: false, route: '', reason: '', exporters_off: [],
    },
    {
      name: 'tcp', enabled: true, attached: false, events_submitted: 12, ring_drops: 7, map_full: 2, program_runs: 30, program_run_seconds: 0.5,
      state: 'detached', required: false, route: 'fentry', reason: '', exporters_off: [],
    },
    {
      name: 'oom', enabled: true, attached: false, events_submitted: 0, ring_drops: 0, map_full: 0, program_runs: 0, program_run_seconds: 0,
      state: 'failed', required: false, route: '', exporters_off: ['oom'],
      reason: "load: prog 'oom_victim': Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable",
    },
  ],
  exporters: [
    { name: 'process', current: version({}), shadow: null, subscriptions: ['process_exec'] },
    {
      name: 'myexp', current: version({ version: '0123456789ab', source: 'api', events: 5, traps: 0, timeouts: 0, dropped_events: 0, series: 2 }),
      shadow: version({ version: 'fedcba987654', state: 'shadow' }), subscriptions: [],
    },
    { name: 'broken', current: null, shadow: null, subscriptions: [] },
  ],
  events_received: 5012, events_lost_in_pipe: 0, series: 234,
};

describe('event lines', () => {
  for (const width of [120, 100, 60, 40]) {
    it(`fit ${width} columns: header and rows never wider than the terminal`, () => {
      const layout = eventLayout(width);
      const lines = [eventHeader(layout), ...EVENTS.map((e) => formatEvent(e, layout))];
      for (const line of lines) expect(line.length).toBeLessThan(width);
      golden(`events-${width}.txt`, `${lines.join('\n')}\n`);
    });
  }

  it('without a terminal width nothing is cut', () => {
    const line = formatEvent(EVENTS[4]!, eventLayout(Infinity));
    expect(line).toContain('cgroup=/system.slice/nginx.service');
  });

  it('keep the key fields at 100 columns: exec arguments, client → server, bytes and duration', () => {
    const layout = eventLayout(100);
    expect(formatEvent(EVENTS[0]!, layout)).toMatch(/ ls -la \/tmp\/a 'b c' …$/);
    const loopback = { ...EVENTS[4]!, cgroup: '', fields: { ...EVENTS[4]!.fields, local_ip: '127.0.0.1', local_port: '44100', remote_ip: '127.0.0.1', remote_port: '19801' } };
    expect(formatEvent(loopback, layout)).toMatch(/ 127\.0\.0\.1:44100 → 127\.0\.0\.1:19801 rx=5\.0K tx=300B 1\.20s$/);
    // The cgroup, not a key field, gives way.
    expect(formatEvent(EVENTS[4]!, layout)).toMatch(/ 10\.0\.0\.1:40000 → 93\.184\.216\.34:443 rx=5\.0K tx=300B 1\.20s$/);
    // An accepted connection: the peer is the client.
    expect(formatEvent(EVENTS[6]!, layout)).toMatch(/ 127\.0\.0\.1:44100 → 127\.0\.0\.1:8080$/);
  });

  it('as JSON: stable names, counts as numbers, 64-bit values past 2^53 as strings', () => {
    const exec = eventJson(EVENTS[0]!);
    expect(exec).toEqual({
      type: 'process_exec', time: '2025-12-01T21:20:00.123Z', wall_time_unix_ns: '1764624000123000000', timestamp_ns: 1, cpu: 0,
      pid: 4242, tgid: 4242, comm: 'ls', cgroup_id: 1, cgroup: '/user.slice/user-1000.slice/session-3.scope',
      ppid: 100, uid: 1000, argc: 40, args_count: 20, args_size: 60, flags: 1, filename: '/usr/bin/ls', args: "ls -la /tmp/a 'b c' …", args_lost: 20,
    });
    expect(eventJson(EVENTS[1]!)).toMatchObject({ exit_code: 0, exit_signal: 9, exit_signal_name: 'SIGKILL', lifetime_ns: 2500000 });
    expect(eventJson(EVENTS[4]!)).toMatchObject({ local_ip: '10.0.0.1', local_port: 40000, remote_port: 443, direction: 1, bytes_received: 5120, duration_ns: 1200000000, local_addr: '0a000001' });
    expect(eventJson({ ...EVENTS[2]!, cgroup_id: '18446744073709551615' }).cgroup_id).toBe('18446744073709551615');
  });

  it('say how many events were lost', () => {
    expect(lostLine(17)).toBe('lost 17 events (this terminal read slower than they arrived)');
  });
});

describe('tables', () => {
  it('status: header lines, sensors (a failed one with its reason), exporters', () => {
    golden('status.txt', renderStatus(STATUS));
  });

  it('status of a collector whose helper is down and that reports no exporters', () => {
    golden('status-down.txt', renderStatus({ ...STATUS, helper_up: false, helper_version: '', kernel: '', exporters: [], uptime_seconds: 42 }));
  });

  it('exporters cut to a 50-column terminal', () => {
    const lines = renderExporters(STATUS.exporters, 50);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(50);
    golden('exporters-50.txt', `${lines.join('\n')}\n`);
  });

  it('aligns numbers right, pads nothing after the last column, truncates with an ellipsis', () => {
    expect(renderTable([{ header: 'NAME' }, { header: 'N', align: 'right' }, { header: 'NOTE' }], [['a', '1', 'x'], ['bbb', '100', '']])).toEqual([
      'NAME    N  NOTE',
      'a       1  x',
      'bbb   100  ',
    ]);
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('abc', 1)).toBe('…');
    expect(truncate('abc', 0)).toBe('');
  });
});
