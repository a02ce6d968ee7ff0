// Main-thread side of one exporter instance's series: maps the worker's local series ids to
// the store's and applies the operations the worker already validated. The store stays
// host-owned, so values survive a restart or a reload of the module.
import type { MetricSpec, SeriesStore } from '../../metrics/store.js';
import { KIND_NAME, Op, OP_SIZE } from '../abi.js';
import type { FamilyInfo, Flush, Seed } from '../protocol.js';

export class SeriesSink {
  /** Local id → store id (-1: none). */
  private toStore = new Int32Array(256).fill(-1);
  private readonly toLocal = new Map<number, number>();

  /**
   * `extraLabel`: a label the module does not know about, added to every family it declares
   * and every series it creates (a shadow candidate's `bpfwasm_exporter_version`).
   */
  constructor(private readonly owner: string, private readonly store: SeriesStore, private readonly extraLabel?: readonly [string, string]) {}

  /** The spec the store holds for a family the module declares. */
  declared(spec: MetricSpec): MetricSpec {
    return this.extraLabel ? { ...spec, labelNames: [...spec.labelNames, this.extraLabel[0]] } : spec;
  }

  /** The owner's families and live series, as the next worker's seed; maps local id i to series i. */
  seed(): Seed {
    const families: FamilyInfo[] = [];
    const series: [number, readonly string[]][] = [];
    this.toStore.fill(-1);
    this.toLocal.clear();
    const extra = this.extraLabel ? 1 : 0;
    for (const f of this.store.families) {
      if (f.owner !== this.owner) continue;
      families.push({
        id: f.id, name: f.spec.name, kind: KIND_NAME.indexOf(f.spec.kind), labelCount: f.spec.labelNames.length - extra,
        bucketCount: f.bounds.length,
      });
      for (const sid of f.series) {
        this.map(series.length, sid);
        const values = this.store.seriesValues[sid]!;
        series.push([f.id, extra ? values.slice(0, -1) : values]);
      }
    }
    return { families, series };
  }

  /**
   * Applies a worker's flush: new series first, then its operations in order. Returns how many
   * operations the store refused because the value would leave the finite range (a counter
   * overflowing to +Inf): the worker cannot see that, since the values live here.
   */
  apply(flush: Flush): { overflowed: number; why: string } {
    const store = this.store;
    const extra = this.extraLabel;
    for (const [local, family, values] of flush.series) this.map(local, store.series(family, extra ? [...values, extra[1]] : values));
    if (flush.refused) store.countRefused(this.owner, flush.refused);
    for (const [metric, n] of flush.refusedByMetric) store.countRefusedByMetric(metric, n);
    const ops = flush.ops;
    const dv = new DataView(ops.buffer, ops.byteOffset, ops.byteLength);
    const toStore = this.toStore;
    let overflowed = 0;
    let last = -1;
    for (let at = 0; at < ops.byteLength; at += OP_SIZE) {
      const local = dv.getUint32(at, true);
      const sid = local < toStore.length ? toStore[local]! : -1;
      if (sid < 0) continue; // the store refused the series (cannot happen while limits agree)
      const op = dv.getUint32(at + 4, true);
      const v = dv.getFloat64(at + 8, true);
      let applied = true;
      switch (op & 0xff) {
        case Op.ADD: applied = store.add(sid, v); break;
        case Op.SET: store.set(sid, v); break;
        case Op.OBSERVE: applied = store.observe(sid, v); break;
        case Op.BUCKET_ADD: applied = store.observeBucket(sid, op >>> 8, v); break;
        case Op.SUM_ADD: applied = store.addSum(sid, v); break;
        default: break;
      }
      if (!applied) {
        overflowed++;
        last = sid;
      }
    }
    return { overflowed, why: last < 0 ? '' : `update: ${this.describe(last)} would overflow to a non-finite value; refused` };
  }

  /** `name{labels}` of a store series, for error messages. */
  private describe(sid: number): string {
    const family = this.store.familyOfSeries(sid);
    const labels = this.store.seriesLabels[sid];
    return `${family?.spec.name ?? `series ${sid}`}${labels ? `{${labels}}` : ''}`;
  }

  /** Local ids of these store series (those this instance knows). */
  localIds(storeIds: readonly number[]): number[] {
    const out: number[] = [];
    for (const sid of storeIds) {
      const local = this.toLocal.get(sid);
      if (local !== undefined) out.push(local);
    }
    return out;
  }

  /** Unmaps local ids the worker released and returns their store ids, to be freed. */
  release(localIds: readonly number[]): number[] {
    const out: number[] = [];
    for (const local of localIds) {
      const sid = this.toStore[local] ?? -1;
      if (sid < 0) continue;
      this.toStore[local] = -1;
      this.toLocal.delete(sid);
      out.push(sid);
    }
    return out;
  }

  private map(local: number, sid: number): void {
    if (local >= this.toStore.length) {
      const bigger = new Int32Array(Math.max(local + 1, this.toStore.length * 2)).fill(-1);
      bigger.set(this.toStore);
      this.toStore = bigger;
    }
    this.toStore[local] = sid;
    if (sid >= 0) this.toLocal.set(sid, local);
  }
}
