// Which resolver answers a recording keeps: for each record, the ids an exporter may pass to
// the `resolve` import (exporters/ABI.md), so a replay answers as the live collector did.
import { ResolveKind } from '../exporters/abi.js';
import { HeaderOffset, RECORDS } from '../ingest/generated/events.js';
import type { RecordedName } from './format.js';

const CGROUP_KINDS = [ResolveKind.CGROUP_PATH, ResolveKind.CGROUP_WORKLOAD];

/** Record field → the resolve kinds its value is an id of. The header's cgroup_id counts for every record. */
const FIELD_KINDS: Record<string, readonly number[]> = {
  cgroup_id: CGROUP_KINDS,
  victim_cgroup_id: CGROUP_KINDS,
  memcg_id: [ResolveKind.MEMCG_PATH],
  nr: [ResolveKind.SYSCALL],
  error: [ResolveKind.ERRNO],
  exit_signal: [ResolveKind.SIGNAL],
  dev: [ResolveKind.BLOCK_DEVICE],
};

interface IdField { offset: number; size: number; kinds: readonly number[] }

const ID_FIELDS: readonly (readonly IdField[])[] = (() => {
  const out: IdField[][] = [];
  for (const r of RECORDS) {
    out[r.id] = [
      { offset: HeaderOffset.cgroup_id, size: 8, kinds: CGROUP_KINDS },
      ...r.fields.filter((f) => FIELD_KINDS[f.name] && (f.size === 4 || f.size === 8))
        .map((f) => ({ offset: f.offset, size: f.size, kinds: FIELD_KINDS[f.name]! })),
    ];
  }
  return out;
})();

/** Ids already answered on one recording stream; cleared when full (an answer sent twice is harmless). */
const MAX_REMEMBERED = 1 << 16;

/**
 * The answers `resolve` gives for the ids in `count` records of `recordType` that `seen` has
 * not had yet; ids it cannot name are left out (a replay answers them as unknown, as live did).
 */
export function namesForBatch(
  recordType: number, payload: Uint8Array, count: number, size: number,
  resolve: (kind: number, id: bigint) => string | undefined, seen: Set<string>,
): RecordedName[] {
  const fields = ID_FIELDS[recordType];
  if (!fields) return [];
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out: RecordedName[] = [];
  for (let i = 0; i < count; i++) {
    for (const f of fields) {
      const at = i * size + f.offset;
      const id = f.size === 8 ? view.getBigUint64(at, true) : BigInt(view.getUint32(at, true));
      for (const kind of f.kinds) {
        if (id === 0n && kind !== ResolveKind.SYSCALL) continue; // 0 is "none" in every id field but a syscall number
        const key = `${kind}:${id}`;
        if (seen.has(key)) continue;
        const name = resolve(kind, id);
        if (name === undefined) continue; // asked again next time: a new cgroup becomes known after a rescan
        if (seen.size >= MAX_REMEMBERED) seen.clear();
        seen.add(key);
        out.push({ kind, id, name });
      }
    }
  }
  return out;
}
