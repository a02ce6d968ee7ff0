// Which records one StreamEvents call wants: record types, then header filters (tgid, comm,
// cgroup id or a cgroup path and everything below it). Matching reads the raw record, no allocation.
import { BpfwasmError } from '../errors.js';
import { HeaderOffset, RECORDS, type RecordLayout } from '../ingest/generated/events.js';

/** Records the kernel aggregates per interval (counts per key, no task): not events to stream. */
export const AGGREGATE_RECORDS: ReadonlySet<string> = new Set(['syscall_latency', 'syscall_error', 'runqlat', 'blockio_latency']);

export const STREAMABLE_RECORDS: readonly RecordLayout[] = RECORDS.filter((r) => !AGGREGATE_RECORDS.has(r.name) && !r.retired);

export interface EventFilterSpec {
  types?: readonly string[];
  pid?: number;
  comm?: string;
  cgroupId?: bigint | number;
  /** A cgroup v2 path relative to the root; also matches the cgroups below it. */
  cgroup?: string;
  /** Aggregate records may be asked for, and empty `types` means every record (recordings). */
  aggregates?: boolean;
}

/** cgroup id → its path ("/system.slice/x.service"), undefined while unknown. */
export type CgroupPathOf = (id: number) => string | undefined;

const CGROUP_CACHE_LIMIT = 16_384;

export class EventFilter {
  /** Record type ids this stream wants, ascending. */
  readonly typeIds: readonly number[];
  private readonly pid: number;
  private readonly comm: Buffer | undefined;
  private readonly cgroupId: number;
  private readonly cgroupPrefix: string | undefined;
  /** cgroup id → inside the wanted subtree; only known ids are cached. */
  private readonly cgroupCache = new Map<number, boolean>();

  constructor(spec: EventFilterSpec, private readonly cgroupPathOf: CgroupPathOf = () => undefined) {
    this.typeIds = resolveTypes(spec.types ?? [], spec.aggregates ?? false);
    this.pid = spec.pid ?? 0;
    if (spec.comm) {
      const comm = Buffer.from(spec.comm, 'utf8');
      if (comm.length > 15) throw new BpfwasmError('REQUEST_INVALID', `comm ${JSON.stringify(spec.comm)} is longer than the kernel's 15 bytes, so nothing would match`);
      this.comm = comm;
    }
    this.cgroupId = Number(spec.cgroupId ?? 0);
    if (spec.cgroup) {
      const trimmed = spec.cgroup.replace(/^\/+|\/+$/g, '');
      // Everything under the root is everything: no filter at all.
      this.cgroupPrefix = trimmed === '' ? undefined : `/${trimmed}`;
    }
  }

  /** Does the record at `offset` pass the header filters? (Its type was already chosen.) */
  matches(payload: Uint8Array, view: DataView, offset: number): boolean {
    if (this.pid !== 0 && view.getUint32(offset + HeaderOffset.tgid, true) !== this.pid) return false;
    if (this.comm && !commEquals(payload, offset + HeaderOffset.comm, this.comm)) return false;
    if (this.cgroupId !== 0 || this.cgroupPrefix !== undefined) {
      const id = view.getUint32(offset + HeaderOffset.cgroup_id, true) + view.getUint32(offset + HeaderOffset.cgroup_id + 4, true) * 2 ** 32;
      if (this.cgroupId !== 0 && id !== this.cgroupId) return false;
      if (this.cgroupPrefix !== undefined && !this.inSubtree(id)) return false;
    }
    return true;
  }

  private inSubtree(id: number): boolean {
    const known = this.cgroupCache.get(id);
    if (known !== undefined) return known;
    const path = this.cgroupPathOf(id);
    if (path === undefined) return false; // not indexed yet: the resolver rescans, a later record may match
    const inside = path === this.cgroupPrefix || path.startsWith(`${this.cgroupPrefix}/`);
    if (this.cgroupCache.size >= CGROUP_CACHE_LIMIT) this.cgroupCache.clear();
    this.cgroupCache.set(id, inside);
    return inside;
  }
}

function commEquals(payload: Uint8Array, at: number, want: Buffer): boolean {
  for (let i = 0; i < want.length; i++) if (payload[at + i] !== want[i]) return false;
  return want.length === 16 || payload[at + want.length] === 0;
}

function resolveTypes(names: readonly string[], aggregates: boolean): number[] {
  if (names.length === 0) return (aggregates ? RECORDS : STREAMABLE_RECORDS).map((r) => r.id);
  const ids = new Set<number>();
  for (const name of names) {
    const record = RECORDS.find((r) => r.name === name);
    if (!record) {
      throw new BpfwasmError('REQUEST_INVALID', `unknown event type ${JSON.stringify(name)}; known: ${STREAMABLE_RECORDS.map((r) => r.name).join(', ')}`);
    }
    if (AGGREGATE_RECORDS.has(name) && !aggregates) {
      throw new BpfwasmError('REQUEST_INVALID', `${name} is an aggregate record (counts per interval), not streamed; streamable: ${STREAMABLE_RECORDS.map((r) => r.name).join(', ')}`);
    }
    ids.add(record.id);
  }
  return [...ids].sort((a, b) => a - b);
}
