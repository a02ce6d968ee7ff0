// The pipeline's tap for StreamEvents. The collector calls onBatch only while `active`, so with
// no stream open the tap costs one branch per batch; records are decoded once per batch and
// only for streams that want their type.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ResolveKind, type Resolver } from '../resolve/index.js';
import type { EventFilter } from './event-filter.js';
import { LAYOUT_BY_ID, decodeEvent, type ApiEvent } from './event-decode.js';

export interface TapSubscription {
  readonly filter: EventFilter;
  /** Must not block: StreamQueue takes it. */
  deliver(event: ApiEvent): void;
}

/** A recording's subscription: whole batches, cut down to the records its filter passes. */
export interface BatchSubscription {
  readonly filter: EventFilter;
  /** `records` is a copy the subscriber keeps; must not block. */
  deliverBatch(recordType: number, records: Uint8Array, count: number): void;
}

export class EventTap {
  /** True while any stream listens; the collector checks it before calling onBatch. */
  active = false;
  private readonly byType: TapSubscription[][] = [];
  private readonly batchesByType: BatchSubscription[][] = [];
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
    return this.add(this.byType, sub);
  }

  /** Adds a recording; the returned function removes it. */
  subscribeBatches(sub: BatchSubscription): () => void {
    return this.add(this.batchesByType, sub);
  }

  private add<S extends { readonly filter: EventFilter }>(lists: S[][], sub: S): () => void {
    // Copy on write: a batch being delivered keeps iterating the list it started with.
    for (const t of sub.filter.typeIds) lists[t] = [...(lists[t] ?? []), sub];
    this.count++;
    this.active = true;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      for (const t of sub.filter.typeIds) lists[t] = lists[t]!.filter((x) => x !== sub);
      this.count--;
      this.active = this.count > 0;
    };
  }

  onBatch(recordType: number, payload: Uint8Array, count: number): void {
    const recordings = this.batchesByType[recordType];
    if (recordings && recordings.length > 0) this.record(recordings, recordType, payload, count);
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

  /** Work per batch: one copy of the records each recording's filter passes (the batch as it came when all do). */
  private record(recordings: readonly BatchSubscription[], recordType: number, payload: Uint8Array, count: number): void {
    const layout = LAYOUT_BY_ID[recordType];
    if (!layout) return;
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    for (const sub of recordings) {
      const kept = new Uint8Array(payload.length);
      let n = 0;
      for (let i = 0, offset = 0; i < count; i++, offset += layout.size) {
        if (!sub.filter.matches(payload, view, offset)) continue;
        kept.set(payload.subarray(offset, offset + layout.size), n * layout.size);
        n++;
      }
      if (n > 0) sub.deliverBatch(recordType, n === count ? kept : kept.slice(0, n * layout.size), n);
    }
  }
}
