// One line per streamed event, in columns fitted to the terminal, or one JSON object per line
// (`bpfwasm events`).
import type { ApiEvent } from '../../api/event-decode.js';
import { RECORDS, type FieldType } from '../../ingest/generated/events.js';
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
// Below NARROW columns the milliseconds, and the longest types' and comms' last characters,
// give their room to the fields: a loopback tcp_close still shows all of its key fields at 100.
const NARROW = 110;
const NARROW_TIME = 8; // HH:MM:SS
const NARROW_TYPE = 12; // process_exec
const NARROW_COMM = 12;

/** Column widths for a terminal `width` columns wide (Infinity: no limit). */
export function eventLayout(width: number): EventLayout {
  const narrow = width < NARROW;
  const time = narrow ? NARROW_TIME : TIME;
  let type = narrow ? NARROW_TYPE : TYPE;
  let comm = narrow ? NARROW_COMM : COMM;
  let rest = width - (time + type + PID + comm + GAPS + 1);
  // Narrow terminals give up comm and type characters before the fields vanish entirely.
  while (rest < 16 && comm > 6) { comm--; rest++; }
  while (rest < 16 && type > 8) { type--; rest++; }
  return { time, type, pid: PID, comm, details: Math.max(0, rest) };
}

export function eventHeader(layout: EventLayout): string {
  return joinColumns(layout, layout.time < TIME ? 'TIME' : 'TIME(UTC)', 'TYPE', 'PID', 'COMM', truncate('DETAILS', layout.details));
}

export function formatEvent(event: ApiEvent, layout: EventLayout): string {
  const ms = Number(BigInt(event.wall_time_unix_ns) / 1_000_000n);
  const time = new Date(ms).toISOString().slice(11, layout.time < TIME ? 19 : 23);
  return joinColumns(layout, time, event.type, String(event.tgid), event.comm, fitParts(eventParts(event), layout.details));
}

export function lostLine(count: number | string): string {
  return `lost ${count} events (this terminal read slower than they arrived)`;
}

/** A piece of an event's details; a key one is kept when the line must lose some. */
export interface DetailPart { text: string; key: boolean }

const key = (text: string): DetailPart => ({ text, key: true });
const extra = (text: string): DetailPart => ({ text, key: false });

/** The fields worth reading, key ones first where order allows, with resolved names in place of raw ones. */
export function eventParts(event: ApiEvent): DetailPart[] {
  const f = event.fields;
  const parts: DetailPart[] = [];
  switch (event.type) {
    case 'process_exec':
      parts.push(extra(`uid=${f.uid}`), extra(`ppid=${f.ppid}`), key(f.args || f.filename || ''));
      break;
    case 'process_exit':
      parts.push(key(f.exit_signal_name ? `signal=${f.exit_signal_name}` : `code=${f.exit_code}`), key(`lifetime=${duration(f.lifetime_ns)}`), extra(`ppid=${f.ppid}`));
      break;
    case 'process_fork':
      parts.push(key(`child=${f.child_tgid}${f.child_pid !== f.child_tgid ? `/${f.child_pid}` : ''}`));
      break;
    case 'tcp_open':
    case 'tcp_close':
    case 'tcp_retransmit': {
      parts.push(key(tcpEndpoints(event)));
      if (event.type === 'tcp_close') parts.push(key(`rx=${bytes(f.bytes_received)}`), key(`tx=${bytes(f.bytes_acked)}`), key(duration(f.duration_ns)));
      if (event.type === 'tcp_retransmit') parts.push(key(`state=${f.state}`));
      break;
    }
    default:
      // Schema order: the first field is the record's subject (oom_kill's victim), the one to keep.
      for (const [k, v] of Object.entries(f)) parts.push((parts.length === 0 ? key : extra)(`${k}=${v}`));
  }
  if (event.cgroup && event.cgroup !== '/') parts.push(extra(`cgroup=${event.cgroup}`));
  return parts;
}

/** Every detail, nothing cut (a pipe, a wide terminal). */
export function eventDetails(event: ApiEvent): string {
  return eventParts(event).map((p) => p.text).join(' ');
}

/**
 * Client → server, whichever side this host is: a connect() (direction 1) is the local side's,
 * an accept() (2) the remote's. A retransmit goes from here to the peer.
 */
function tcpEndpoints(event: ApiEvent): string {
  const f = event.fields;
  const local = `${f.local_ip ?? f.local_addr}:${f.local_port}`;
  const remote = `${f.remote_ip ?? f.remote_addr}:${f.remote_port}`;
  return f.direction === '2' ? `${remote} → ${local}` : `${local} → ${remote}`;
}

/** The parts that fit `width`: the extra ones leave from the end first, then the line is cut. */
function fitParts(parts: DetailPart[], width: number): string {
  const kept = [...parts];
  const length = () => kept.reduce((n, p) => n + p.text.length, 0) + Math.max(0, kept.length - 1);
  for (let i = kept.length - 1; i >= 0 && length() > width; i--) if (!kept[i]!.key) kept.splice(i, 1);
  return truncate(kept.map((p) => p.text).join(' '), width);
}

function duration(ns: string | undefined): string {
  const n = Number(ns ?? 0);
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}s`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}ms`;
  return `${(n / 1e3).toFixed(0)}µs`;
}

function bytes(text: string | undefined): string {
  const n = Number(text ?? 0);
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T']; // powers of 1024, as ls -h writes them
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(1)}${units[u]}`;
}

function joinColumns(layout: EventLayout, time: string, type: string, pid: string, comm: string, details: string): string {
  const line = `${pad(time, layout.time)} ${pad(type, layout.type)} ${pad(pid, layout.pid, 'right')} ${pad(comm, layout.comm)} ${details}`;
  return line.trimEnd();
}

// ---- -o json ----

const FIELD_TYPES = new Map(RECORDS.map((r) => [r.name, new Map<string, FieldType>(r.fields.map((f) => [f.name, f.type]))]));
/** Fields the collector adds beside a record's own that are counts. */
const RESOLVED_NUMBERS = new Set(['args_lost']);

/**
 * One event as a flat JSON object: the header's names, then the record's fields by schema name.
 * Integers are JSON numbers; a 64-bit one past 2^53 (which JSON readers would round) is a decimal
 * string, and so is wall_time_unix_ns, always past it. Byte arrays are hex, char arrays text.
 */
export function eventJson(event: ApiEvent): Record<string, unknown> {
  const wallNs = BigInt(event.wall_time_unix_ns);
  const out: Record<string, unknown> = {
    type: event.type,
    time: new Date(Number(wallNs / 1_000_000n)).toISOString(),
    wall_time_unix_ns: event.wall_time_unix_ns,
    timestamp_ns: integer(event.timestamp_ns),
    cpu: event.cpu,
    pid: event.pid,
    tgid: event.tgid,
    comm: event.comm,
    cgroup_id: integer(event.cgroup_id),
    cgroup: event.cgroup,
  };
  const types = FIELD_TYPES.get(event.type);
  for (const [name, value] of Object.entries(event.fields)) {
    const type = types?.get(name);
    const numeric = type !== undefined ? type !== 'chars' && type !== 'bytes' : RESOLVED_NUMBERS.has(name);
    out[name] = numeric ? integer(value) : value;
  }
  return out;
}

function integer(text: string): number | string {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}
