// One line per streamed event, in columns fitted to the terminal (`bpfwasm events`).
import type { ApiEvent } from '../../api/event-decode.js';
import { pad, truncate } from './table.js';

export interface EventLayout {
  time: number;
  type: number;
  pid: number;
  comm: number;
  /** What is left for the fields; 0 hides them. */
  details: number;
}

const TIME = 12; // HH:MM:SS.mmm
const PID = 7;
const TYPE = 14; // tcp_retransmit
const COMM = 15; // the kernel's longest comm
const GAPS = 4;

/** Column widths for a terminal `width` columns wide (Infinity: no limit). */
export function eventLayout(width: number): EventLayout {
  let type = TYPE;
  let comm = COMM;
  let rest = width - (TIME + TYPE + PID + COMM + GAPS + 1);
  // Narrow terminals give up comm and type characters before the fields vanish entirely.
  while (rest < 16 && comm > 6) { comm--; rest++; }
  while (rest < 16 && type > 8) { type--; rest++; }
  return { time: TIME, type, pid: PID, comm, details: Math.max(0, rest) };
}

export function eventHeader(layout: EventLayout): string {
  return joinColumns(layout, 'TIME(UTC)', 'TYPE', 'PID', 'COMM', 'DETAILS');
}

export function formatEvent(event: ApiEvent, layout: EventLayout): string {
  const ms = Number(BigInt(event.wall_time_unix_ns) / 1_000_000n);
  const time = new Date(ms).toISOString().slice(11, 23);
  return joinColumns(layout, time, event.type, String(event.tgid), event.comm, eventDetails(event));
}

export function lostLine(count: number | string): string {
  return `lost ${count} events (this terminal read slower than they arrived)`;
}

/** The fields worth reading, in the schema's order, with resolved names in place of raw ones. */
export function eventDetails(event: ApiEvent): string {
  const f = event.fields;
  const parts: string[] = [];
  switch (event.type) {
    case 'process_exec':
      parts.push(`ppid=${f.ppid}`);
      break;
    case 'process_exit':
      parts.push(`ppid=${f.ppid}`, f.exit_signal_name ? `signal=${f.exit_signal_name}` : `code=${f.exit_code}`, `lifetime=${duration(f.lifetime_ns)}`);
      break;
    case 'process_fork':
      parts.push(`child=${f.child_tgid}${f.child_pid !== f.child_tgid ? `/${f.child_pid}` : ''}`);
      break;
    case 'tcp_open':
    case 'tcp_close':
    case 'tcp_retransmit': {
      const arrow = f.direction === '1' ? '<-' : '->';
      parts.push(`${f.local_ip ?? f.local_addr}:${f.local_port} ${arrow} ${f.remote_ip ?? f.remote_addr}:${f.remote_port}`);
      if (event.type === 'tcp_close') parts.push(`rx=${f.bytes_received}B tx=${f.bytes_acked}B dur=${duration(f.duration_ns)}`);
      if (event.type === 'tcp_retransmit') parts.push(`state=${f.state}`);
      break;
    }
    default:
      for (const [k, v] of Object.entries(f)) parts.push(`${k}=${v}`);
  }
  if (event.cgroup && event.cgroup !== '/') parts.push(`cgroup=${event.cgroup}`);
  return parts.join(' ');
}

function duration(ns: string | undefined): string {
  const n = Number(ns ?? 0);
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}s`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}ms`;
  return `${(n / 1e3).toFixed(0)}µs`;
}

function joinColumns(layout: EventLayout, time: string, type: string, pid: string, comm: string, details: string): string {
  const line = `${pad(time, layout.time)} ${pad(type, layout.type)} ${pad(pid, layout.pid, 'right')} ${pad(comm, layout.comm)} ${truncate(details, layout.details)}`;
  return line.trimEnd();
}
