// The pipeline's tap for StreamEvents. The collector calls onBatch only while `active`, so with
// no stream open the tap costs one branch per batch; records are decoded once per batch and
// only for streams that want their type.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ResolveKind, type Resolver } from '../resolve/index.js';
import { EventFilter } from './event-filter.js';
import { LAYOUT_BY_ID, decodeEvent, type ApiEvent } from './event-decode.js';

export interface TapSubscription {
  readonly filter: EventFilter;
  /** Must not block: StreamQueue takes it. */
  deliver(event: ApiEvent): void;
}

export class EventTap {
  /** True while any stream listens; the collector checks it before calling onBatch. */
  active = false;
  private readonly byType: TapSubscription[][] = [];
  private count = 0;
  readonly cgroupPathOf: (id: number) => string | undefined;
  /** Whether a cgroup v2 path (relative to the root) exists; undefined when there is no cgroup2 mount to look in. */
  readonly cgroupExists: (path: string) => boolean | undefined;

  constructor(resolver?: Pick<Resolver, 'resolve'> & { mounts?: Resolver['mounts'] }) {
    this.cgroupPathOf = resolver ? (id) => resolver.resolve(ResolveKind.CGROUP_PATH, id) : () => undefined;
    const v2 = resolver?.mounts?.v2?.mountPoint;
    this.cgroupExists = v2 ? (path) => existsSync(join(v2, path)) : () => undefined;
  }

  get subscribers(): number {
    return this.count;
  }

  /** Adds a stream; the returned function removes it. */
  subscribe(sub: TapSubscription): () => void {
    // Copy on write: a batch being delivered keeps iterating the list it started with.
    for (const t of sub.filter.typeIds) this.byType[t] = [...(this.byType[t] ?? []), sub];
    this.count++;
    this.active = true;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      for (const t of sub.filter.typeIds) this.byType[t] = this.byType[t]!.filter((x) => x !== sub);
      this.count--;
      this.active = this.count > 0;
    };
  }

  onBatch(recordType: number, payload: Uint8Array, count: number): void {
    const subs = this.byType[recordType];
    if (!subs || subs.length === 0) return;
    const layout = LAYOUT_BY_ID[recordType];
    if (!layout) return;
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    // The kernel stamps CLOCK_MONOTONIC, which is what process.hrtime reads on Linux.
    const wallOffsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
    for (let i = 0, offset = 0; i < count; i++, offset += layout.size) {
      let event: ApiEvent | undefined;
      for (let s = 0; s < subs.length; s++) {
        const sub = subs[s]!;
        if (!sub.filter.matches(payload, view, offset)) continue;
        event ??= decodeEvent(layout, payload, view, offset, wallOffsetNs, this.cgroupPathOf);
        sub.deliver(event);
      }
    }
  }
}
