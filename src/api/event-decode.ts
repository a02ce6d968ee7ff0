// Turns one raw record into the API's Event message (proto field names, uint64 as decimal text),
// using the generated layouts: a schema change needs no edit here.
import { HeaderOffset, RECORDS, type FieldLayout, type RecordLayout } from '../ingest/generated/events.js';
import { argsLine, execArgs } from '../ingest/exec-args.js';
import { signalName } from '../resolve/index.js';

/** bpfwasm.v1.Event as grpc-js serializes it (keepCase, uint64 as strings). */
export interface ApiEvent {
  type: string;
  timestamp_ns: string;
  wall_time_unix_ns: string;
  cpu: number;
  pid: number;
  tgid: number;
  cgroup_id: string;
  cgroup: string;
  comm: string;
  fields: Record<string, string>;
}

export const LAYOUT_BY_ID: readonly (RecordLayout | undefined)[] = (() => {
  const out: (RecordLayout | undefined)[] = [];
  for (const r of RECORDS) out[r.id] = r;
  return out;
})();

/** Names the collector adds beside a record's fields; they make `exit_signal 9` readable. */
const AF_INET = 2;
const AF_INET6 = 10;

export function decodeEvent(
  layout: RecordLayout,
  payload: Uint8Array,
  view: DataView,
  offset: number,
  wallOffsetNs: bigint,
  cgroupPathOf: (id: number) => string | undefined,
): ApiEvent {
  const ts = view.getBigUint64(offset + HeaderOffset.timestamp_ns, true);
  const cgroupId = view.getBigUint64(offset + HeaderOffset.cgroup_id, true);
  const fields: Record<string, string> = {};
  for (const f of layout.fields) fields[f.name] = fieldText(f, payload, view, offset);
  addResolvedNames(layout.name, fields, payload, view, offset);
  return {
    type: layout.name,
    timestamp_ns: ts.toString(),
    wall_time_unix_ns: (ts + wallOffsetNs).toString(),
    cpu: view.getUint32(offset + HeaderOffset.cpu, true),
    pid: view.getUint32(offset + HeaderOffset.pid, true),
    tgid: view.getUint32(offset + HeaderOffset.tgid, true),
    cgroup_id: cgroupId.toString(),
    cgroup: cgroupPathOf(Number(cgroupId)) ?? '',
    comm: chars(payload, offset + HeaderOffset.comm, 16),
    fields,
  };
}

function fieldText(f: FieldLayout, payload: Uint8Array, view: DataView, offset: number): string {
  const at = offset + f.offset;
  switch (f.type) {
    case 'u8': return String(view.getUint8(at));
    case 'u16': return String(view.getUint16(at, true));
    case 'u32': return String(view.getUint32(at, true));
    case 's32': return String(view.getInt32(at, true));
    case 'u64': return view.getBigUint64(at, true).toString();
    case 's64': return view.getBigInt64(at, true).toString();
    case 'chars': return chars(payload, at, f.size);
    case 'bytes': return Buffer.from(payload.buffer, payload.byteOffset + at, f.size).toString('hex');
  }
}

function chars(payload: Uint8Array, at: number, size: number): string {
  let end = at;
  while (end < at + size && payload[end] !== 0) end++;
  return Buffer.from(payload.buffer, payload.byteOffset + at, end - at).toString('utf8');
}

function addResolvedNames(type: string, fields: Record<string, string>, payload: Uint8Array, view: DataView, offset: number): void {
  if (type === 'process_exec') {
    // The raw field stops at the first NUL; the API gives every kept argument, a lost tail as "…".
    const decoded = execArgs(payload, view, offset);
    fields.args = argsLine(decoded);
    fields.args_lost = String(decoded.lost);
  } else if (type === 'process_exit') {
    const sig = Number(fields.exit_signal);
    if (sig !== 0) fields.exit_signal_name = signalName(sig) ?? `signal ${sig}`;
  } else if (fields.family !== undefined && fields.local_addr !== undefined) {
    const family = Number(fields.family);
    const layout = RECORDS.find((r) => r.name === type)!;
    for (const side of ['local', 'remote'] as const) {
      const f = layout.fields.find((x) => x.name === `${side}_addr`)!;
      const ip = ipText(family, payload.subarray(offset + f.offset, offset + f.offset + f.size));
      if (ip) fields[`${side}_ip`] = ip;
    }
  }
}

function ipText(family: number, addr: Uint8Array): string | undefined {
  if (family === AF_INET) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  if (family !== AF_INET6) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i]! << 8) | addr[i + 1]!).toString(16));
  // The longest run of zero groups becomes "::", as inet_ntop writes it.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
