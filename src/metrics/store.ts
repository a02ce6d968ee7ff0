// Host-owned metric state for exporters: series are interned once into numeric ids and
// updated by id, so exporters never pass label strings on the hot path and counters
// survive an exporter reload (the store, not the module, owns the values).
import { BpfwasmError } from '../errors.js';
import { labelValueProblem, seriesKey } from './labels.js';
import { NativeHistograms } from './native-histogram.js';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface MetricSpec {
  /** Full exposed name; counters end in `_total`. */
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labelNames: readonly string[];
  /** Histogram upper bounds, strictly increasing, without +Inf. */
  readonly buckets?: readonly number[];
}

export interface MetricFamily {
  readonly id: number;
  readonly owner: string;
  /** The collector's own family (see HOST_OWNERS): outside every series limit. */
  readonly host: boolean;
  readonly spec: MetricSpec;
  readonly bounds: Float64Array;
  /** Live series ids of this family, in creation order. */
  readonly series: Set<number>;
}

/** Owner of the collector's own families declared through meter.ts (pipeline, exporter self metrics, API, logs). */
export const COLLECTOR_OWNER = 'collector';

/**
 * Owners of the collector's own families (pipeline, exporter self metrics, API, logs, runtime).
 * Their series are bounded by design (per exporter, sensor, CPU…), so they count against no
 * limit; no exporter may take one of these names (see the registry).
 */
export const HOST_OWNERS: ReadonlySet<string> = new Set([COLLECTOR_OWNER, 'runtime']);

/**
 * Every name a family is known by or writes samples under, in text 0.0.4, OpenMetrics and
 * protobuf: a counter `x_total` is family `x` in OpenMetrics (with `x_created`), a histogram `x`
 * writes `x_bucket`, `x_sum`, `x_count` (and `x_created`). Two families may not share any.
 */
export function exposedNames(name: string, kind: MetricKind): string[] {
  if (kind === 'gauge') return [name];
  if (kind === 'counter') {
    const family = name.slice(0, -'_total'.length);
    return [family, name, `${family}_created`];
  }
  return [name, `${name}_bucket`, `${name}_sum`, `${name}_count`, `${name}_created`];
}

/** Who holds an exposed name: a declared family, or a reservation for one. */
interface NameHolder {
  readonly owner: string;
  readonly name: string;
  readonly kind: MetricKind;
}

export interface StoreOptions {
  /** Series one owner (exporter) may create before further ones are refused; host owners are exempt. */
  readonly maxSeriesPerOwner: number;
  /** Series one metric may have before further ones are refused; defaults to no limit beyond the owner's. */
  readonly maxSeriesPerMetric?: number;
  /** Longest label value accepted, in UTF-8 bytes. */
  readonly maxLabelValueBytes: number;
  /** Also keep sparse exponential buckets for every histogram fed by `observe` (not `setHistogram`). */
  readonly nativeHistograms?: boolean;
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value for the text exposition formats. */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/**
 * The samples of one series, as serializers read them: `SeriesStore.read` points the store's one
 * reader at a series, so a walk over many series allocates nothing, and only the store knows
 * where a series keeps its values. Read one series fully before reading the next.
 */
export class SeriesSamples {
  private slots: Float64Array = new Float64Array(0);
  private base = 0;
  private buckets = 0;

  /** Points at a series (the store does, in `read`): its first slot and its classic bucket bounds. */
  point(slots: Float64Array, base: number, buckets: number): this {
    this.slots = slots;
    this.base = base;
    this.buckets = buckets;
    return this;
  }

  /** A counter's or gauge's value. */
  value(): number {
    return this.slots[this.base]!;
  }

  /** Observations in histogram bucket `index` alone (not cumulative); the bucket after the last bound is +Inf. */
  bucket(index: number): number {
    return this.slots[this.base + index]!;
  }

  sum(): number {
    return this.slots[this.base + this.buckets + 1]!;
  }

  count(): number {
    return this.slots[this.base + this.buckets + 2]!;
  }
}

export class SeriesStore {
  /** Live families in declaration order (what serializers walk). */
  readonly families: MetricFamily[] = [];
  /** Every family ever declared, by id (ids are never reused, so a stale id finds a dropped family). */
  private readonly byId: MetricFamily[] = [];
  private readonly byName = new Map<string, MetricFamily>();
  /** Exposed name (see `exposedNames`) → the family or reservation that holds it. */
  private readonly exposed = new Map<string, NameHolder>();
  /** Per series: its family id. */
  private seriesFamily: Int32Array<ArrayBuffer> = new Int32Array(1024);
  /** Per series: first slot in `slots` (value, or buckets..., sum, count). */
  private seriesSlot: Int32Array<ArrayBuffer> = new Int32Array(1024);
  /** Per series: the rendered label pairs without braces, e.g. `comm="sh",code="0"`; '' once freed. */
  readonly seriesLabels: string[] = [];
  /** Per series: the raw label values, in the family's label order (federation matches on these). */
  readonly seriesValues: (readonly string[])[] = [];
  /** Per series: the store clock (`now`) when it was last updated, for idle expiry. */
  private touched: Uint32Array<ArrayBuffer> = new Uint32Array(1024);
  private readonly seriesKey = new Map<string, number>();
  private readonly freeIds: number[] = [];
  /** Freed slot ranges by width, reused by series of the same width. */
  private readonly freeSlots = new Map<number, number[]>();
  private slots = new Float64Array(4096);
  private slotsUsed = 0;
  private live = 0;
  private readonly ownerSeries = new Map<string, number>();
  private readonly refused = new Map<string, number>();
  private readonly refusedByMetric = new Map<string, number>();
  /** Coarse clock in seconds, advanced by the owner of the store (see `tick`); updates stamp series with it. */
  now = 0;
  private nativeState: NativeHistograms | undefined;
  private readonly reader = new SeriesSamples();

  constructor(readonly options: StoreOptions) {}

  /** Live series across all owners. */
  get seriesCount(): number {
    return this.live;
  }

  /**
   * Declares a metric, or returns the existing id when `owner` declared the same shape before
   * (reload). Refused (METRIC_CONFLICT) when another family, or a reservation, already holds
   * one of the names it would be exposed under in any format.
   */
  declare(owner: string, spec: MetricSpec): number {
    validateSpec(spec);
    const existing = this.byName.get(spec.name);
    if (existing) {
      if (existing.owner !== owner) {
        throw new BpfwasmError('METRIC_CONFLICT', `metric ${spec.name} is already declared by ${existing.owner}`);
      }
      if (!sameShape(existing.spec, spec)) {
        throw new BpfwasmError('METRIC_CONFLICT', `metric ${spec.name} was declared before with other labels, type or buckets`);
      }
      return existing.id;
    }
    this.claimNames(owner, spec.name, spec.kind);
    const family: MetricFamily = {
      id: this.byId.length,
      owner,
      host: HOST_OWNERS.has(owner),
      spec: { ...spec, labelNames: [...spec.labelNames], buckets: spec.buckets && [...spec.buckets] },
      bounds: Float64Array.from(spec.buckets ?? []),
      series: new Set(),
    };
    this.families.push(family);
    this.byId.push(family);
    this.byName.set(spec.name, family);
    return family.id;
  }

  /**
   * Holds the names a family of `owner` will be exposed under before it is declared (the
   * collector's runtime metrics appear on the first scrape): until then no one else may take them.
   */
  reserve(owner: string, name: string, kind: MetricKind): void {
    this.claimNames(owner, name, kind);
  }

  /** Takes every exposed name of a family, or throws METRIC_CONFLICT naming the holder of one. */
  private claimNames(owner: string, name: string, kind: MetricKind): void {
    const names = exposedNames(name, kind);
    for (const n of names) {
      const holder = this.exposed.get(n);
      if (!holder || (holder.owner === owner && holder.name === name && holder.kind === kind)) continue;
      throw new BpfwasmError('METRIC_CONFLICT', `metric ${collision(holder, name, kind, n)}`);
    }
    for (const n of names) this.exposed.set(n, { owner, name, kind });
  }

  family(id: number): MetricFamily | undefined {
    const family = this.byId[id];
    return family && this.byName.get(family.spec.name) === family ? family : undefined;
  }

  familyOfSeries(seriesId: number): MetricFamily | undefined {
    return seriesId >= 0 && seriesId < this.seriesLabels.length && this.seriesLabels[seriesId] !== undefined &&
      this.seriesValues[seriesId] !== FREED
      ? this.byId[this.seriesFamily[seriesId]!]
      : undefined;
  }

  /**
   * Interns a label set into a series id. Returns -1 when the owner's series limit is reached;
   * the refusal is counted (see `refusedSeries`) rather than silent, and updates through -1 are
   * ignored. A label value with a control character (see labels.ts) is SERIES_INVALID.
   */
  series(familyId: number, labelValues: readonly string[]): number {
    const family = this.family(familyId);
    if (!family) throw new BpfwasmError('SERIES_INVALID', `no metric with id ${familyId}`);
    if (labelValues.length !== family.spec.labelNames.length) {
      throw new BpfwasmError('SERIES_INVALID',
        `${family.spec.name} has ${family.spec.labelNames.length} labels, got ${labelValues.length} values`);
    }
    const key = seriesKey(familyId, labelValues);
    const known = this.seriesKey.get(key);
    if (known !== undefined) return known;
    for (const v of labelValues) {
      if (Buffer.byteLength(v) > this.options.maxLabelValueBytes) {
        throw new BpfwasmError('SERIES_INVALID',
          `label value of ${Buffer.byteLength(v)} bytes exceeds the ${this.options.maxLabelValueBytes}-byte limit`);
      }
      const problem = labelValueProblem(v);
      if (problem) throw new BpfwasmError('SERIES_INVALID', `${family.spec.name}: ${problem}`);
    }
    const owned = this.ownerSeries.get(family.owner) ?? 0;
    if (!family.host && owned >= this.options.maxSeriesPerOwner) {
      this.countRefused(family.owner);
      return -1;
    }
    if (!family.host && this.options.maxSeriesPerMetric !== undefined && family.series.size >= this.options.maxSeriesPerMetric) {
      this.countRefused(family.owner);
      this.refusedByMetric.set(family.spec.name, (this.refusedByMetric.get(family.spec.name) ?? 0) + 1);
      return -1;
    }
    this.ownerSeries.set(family.owner, owned + 1);
    const id = this.freeIds.pop() ?? this.seriesLabels.length;
    if (id >= this.seriesFamily.length) {
      this.seriesFamily = grow(this.seriesFamily);
      this.seriesSlot = grow(this.seriesSlot);
      const touched = new Uint32Array(this.seriesFamily.length);
      touched.set(this.touched);
      this.touched = touched;
    }
    const width = family.spec.kind === 'histogram' ? family.bounds.length + 3 : 1;
    this.seriesFamily[id] = familyId;
    this.seriesSlot[id] = this.allocSlots(width);
    this.touched[id] = this.now;
    const rendered = family.spec.labelNames.map((n, i) => `${n}="${escapeLabelValue(labelValues[i]!)}"`).join(',');
    this.seriesLabels[id] = rendered;
    this.seriesValues[id] = [...labelValues];
    family.series.add(id);
    this.seriesKey.set(key, id);
    this.live++;
    return id;
  }

  /** Reserves `width` zeroed value slots, reusing freed ones of the same width first. */
  private allocSlots(width: number): number {
    const reused = this.freeSlots.get(width)?.pop();
    if (reused !== undefined) {
      this.slots.fill(0, reused, reused + width);
      return reused;
    }
    while (this.slotsUsed + width > this.slots.length) {
      const bigger = new Float64Array(this.slots.length * 2);
      bigger.set(this.slots);
      this.slots = bigger;
    }
    const at = this.slotsUsed;
    this.slotsUsed += width;
    return at;
  }

  /**
   * Removes an owner's families and their series (an exporter unloaded, a shadow ended): they
   * leave the exposition, and a later owner may declare the names again with another shape.
   */
  dropOwner(owner: string): void {
    this.dropFamilies(owner, new Set());
    this.ownerSeries.delete(owner);
    this.refused.delete(owner);
  }

  /** Removes the families of `owner` not in `keep`, with their series and names (a refused version's new metrics). */
  dropFamilies(owner: string, keep: ReadonlySet<number>): void {
    const gone = this.families.filter((f) => f.owner === owner && !keep.has(f.id));
    for (const f of gone) {
      this.free([...f.series]);
      this.byName.delete(f.spec.name);
      for (const n of exposedNames(f.spec.name, f.spec.kind)) this.exposed.delete(n);
      this.families.splice(this.families.indexOf(f), 1);
    }
  }

  /** Ids of the live families of `owner`. */
  familyIds(owner: string): Set<number> {
    return new Set(this.families.filter((f) => f.owner === owner).map((f) => f.id));
  }

  /** Series of `owner` not updated for more than `idleSeconds` (by the store clock). */
  idleSeries(owner: string, idleSeconds: number): number[] {
    const out: number[] = [];
    const limit = this.now - idleSeconds;
    for (const family of this.families) {
      if (family.owner !== owner) continue;
      for (const sid of family.series) if (this.touched[sid]! < limit) out.push(sid);
    }
    return out;
  }

  /**
   * Removes series; their ids and slots are reused by later series. Callers must first make
   * sure nothing still holds the ids (exporters are told through `bpfwasm_forget`).
   */
  free(ids: readonly number[]): void {
    for (const sid of ids) {
      const family = this.familyOfSeries(sid);
      if (!family) continue;
      family.series.delete(sid);
      this.seriesKey.delete(seriesKey(family.id, this.seriesValues[sid]!));
      const width = family.spec.kind === 'histogram' ? family.bounds.length + 3 : 1;
      let list = this.freeSlots.get(width);
      if (!list) this.freeSlots.set(width, (list = []));
      list.push(this.seriesSlot[sid]!);
      this.seriesLabels[sid] = '';
      this.seriesValues[sid] = FREED;
      this.ownerSeries.set(family.owner, (this.ownerSeries.get(family.owner) ?? 1) - 1);
      this.freeIds.push(sid);
      this.live--;
    }
  }

  /**
   * Adds to a counter or gauge. Callers validate kind and sign (see exporters/abi). False, and
   * nothing changed, when the series was refused (-1) or the sum would not be finite (an
   * overflow to ±Inf): callers count that.
   */
  add(seriesId: number, value: number): boolean {
    if (seriesId < 0) return false;
    const at = this.seriesSlot[seriesId]!;
    const next = this.slots[at]! + value;
    if (next - next !== 0) return false;
    this.slots[at] = next;
    this.touched[seriesId] = this.now;
    return true;
  }

  set(seriesId: number, value: number): void {
    if (seriesId < 0) return;
    this.slots[this.seriesSlot[seriesId]!] = value;
    this.touched[seriesId] = this.now;
  }

  /**
   * Records one histogram observation: bucket counts are stored per bucket, cumulated when
   * read. False, and nothing recorded, for a refused series or when the sum would overflow.
   */
  observe(seriesId: number, value: number): boolean {
    if (seriesId < 0) return false;
    const familyId = this.seriesFamily[seriesId]!;
    const bounds = this.byId[familyId]!.bounds;
    const base = this.seriesSlot[seriesId]!;
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (value <= bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    const slots = this.slots;
    const sum = slots[base + bounds.length + 1]! + value;
    if (sum - sum !== 0) return false;
    if (this.options.nativeHistograms) {
      // A count of 0 means the slots are new (or reused and zeroed): native state under this id is stale.
      (this.nativeState ??= new NativeHistograms()).observe(familyId, seriesId, value, slots[base + bounds.length + 2] === 0);
    }
    slots[base + lo]! += 1; // index bounds.length is the +Inf bucket
    slots[base + bounds.length + 1] = sum;
    slots[base + bounds.length + 2]! += 1;
    this.touched[seriesId] = this.now;
    return true;
  }

  /**
   * Adds `n` observations to classic bucket `index` (bounds.length is +Inf) and to the count,
   * leaving the sum to `addSum`: how pre-aggregated counts (kernel histograms) arrive. With
   * `nativeHistograms` on they also land in the native bucket of the classic upper bound (the
   * exact values are not known).
   */
  observeBucket(seriesId: number, index: number, n: number): boolean {
    if (seriesId < 0) return false;
    const familyId = this.seriesFamily[seriesId]!;
    const bounds = this.byId[familyId]!.bounds;
    const base = this.seriesSlot[seriesId]!;
    const slots = this.slots;
    const count = slots[base + bounds.length + 2]! + n;
    if (count - count !== 0) return false;
    if (this.options.nativeHistograms) {
      const at = index < bounds.length ? bounds[index]! : 2 * bounds[bounds.length - 1]!;
      (this.nativeState ??= new NativeHistograms()).observe(familyId, seriesId, at, slots[base + bounds.length + 2] === 0, n);
    }
    slots[base + index]! += n;
    slots[base + bounds.length + 2] = count;
    this.touched[seriesId] = this.now;
    return true;
  }

  /** Adds to a histogram's sum without an observation (the other half of `observeBucket`); false as `add`. */
  addSum(seriesId: number, value: number): boolean {
    if (seriesId < 0) return false;
    const at = this.seriesSlot[seriesId]! + this.byId[this.seriesFamily[seriesId]!]!.bounds.length + 1;
    const sum = this.slots[at]! + value;
    if (sum - sum !== 0) return false;
    this.slots[at] = sum;
    this.touched[seriesId] = this.now;
    return true;
  }

  /** Number of classic bucket bounds of a histogram series (its +Inf bucket is this index). */
  bucketCount(seriesId: number): number {
    return this.byId[this.seriesFamily[seriesId]!]!.bounds.length;
  }

  /** Native histogram state, once a histogram was observed with `nativeHistograms` on. */
  get native(): NativeHistograms | undefined {
    return this.nativeState;
  }

  /** Replaces a histogram's state from cumulative bucket counts (last is +Inf), as other libraries report it. */
  setHistogram(seriesId: number, cumulative: readonly number[], sum: number, count: number): void {
    if (seriesId < 0) return;
    const n = this.byId[this.seriesFamily[seriesId]!]!.bounds.length;
    const base = this.seriesSlot[seriesId]!;
    let prev = 0;
    for (let i = 0; i <= n; i++) {
      const c = cumulative[i] ?? prev;
      this.slots[base + i] = c - prev;
      prev = c;
    }
    this.slots[base + n + 1] = sum;
    this.slots[base + n + 2] = count;
    this.touched[seriesId] = this.now;
  }

  /** Current value of a counter or gauge. */
  value(seriesId: number): number {
    return this.slots[this.seriesSlot[seriesId]!]!;
  }

  /** Histogram state: cumulative bucket counts (last is +Inf), sum and count. */
  histogram(seriesId: number): { cumulative: number[]; sum: number; count: number } {
    const n = this.byId[this.seriesFamily[seriesId]!]!.bounds.length;
    const base = this.seriesSlot[seriesId]!;
    const cumulative: number[] = [];
    let acc = 0;
    for (let i = 0; i <= n; i++) cumulative.push((acc += this.slots[base + i]!));
    return { cumulative, sum: this.slots[base + n + 1]!, count: this.slots[base + n + 2]! };
  }

  /** The samples of a live series through the store's one reader, valid until the next `read` (serializers). */
  read(seriesId: number): SeriesSamples {
    return this.reader.point(this.slots, this.seriesSlot[seriesId]!, this.byId[this.seriesFamily[seriesId]!]!.bounds.length);
  }

  seriesOf(owner: string): number {
    return this.ownerSeries.get(owner) ?? 0;
  }

  /** Counts a series refused before it reached the store (e.g. an exporter's over-long label value). */
  countRefused(owner: string, n = 1): void {
    this.refused.set(owner, (this.refused.get(owner) ?? 0) + n);
  }

  /** Counts series refused by an exporter's worker because `metric` reached `maxSeriesPerMetric`. */
  countRefusedByMetric(metric: string, n: number): void {
    this.refusedByMetric.set(metric, (this.refusedByMetric.get(metric) ?? 0) + n);
  }

  /** Series refused because one metric reached `maxSeriesPerMetric`, by metric name. */
  refusedByMetricName(): ReadonlyMap<string, number> {
    return this.refusedByMetric;
  }

  refusedSeries(owner: string): number {
    return this.refused.get(owner) ?? 0;
  }

  owners(): string[] {
    return [...new Set(this.families.map((f) => f.owner))];
  }
}

/** Why `kind name` may not be exposed as `n`, which `holder` holds. */
function collision(holder: NameHolder, name: string, kind: MetricKind, n: string): string {
  const host = HOST_OWNERS.has(holder.owner);
  if (holder.name === name) return host ? `${name} is reserved for the collector's own metric` : `${name} is already declared by ${holder.owner}`;
  const other = host ? `the collector's own metric ${holder.name}` : `${holder.kind} ${holder.name} of ${holder.owner}`;
  return `${kind} ${name} would be exposed as ${n}, which ${other} already uses`;
}

/** Marks a freed series' values, so a stale id is never mistaken for a live series. */
const FREED: readonly string[] = Object.freeze([]);

function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

function sameShape(a: MetricSpec, b: MetricSpec): boolean {
  return a.kind === b.kind &&
    a.labelNames.join(',') === b.labelNames.join(',') &&
    (a.buckets ?? []).join(',') === (b.buckets ?? []).join(',');
}

function validateSpec(spec: MetricSpec): void {
  const bad = (why: string) => new BpfwasmError('METRIC_INVALID', `metric ${JSON.stringify(spec.name)}: ${why}`);
  if (!NAME_RE.test(spec.name)) throw bad('name must match [a-zA-Z_:][a-zA-Z0-9_:]*');
  const helpProblem = labelValueProblem(spec.help);
  if (helpProblem) throw bad(`help ${helpProblem.slice('label value '.length)}`);
  if (spec.kind === 'counter' && !spec.name.endsWith('_total')) throw bad('a counter name must end in _total');
  if (spec.kind !== 'counter' && spec.name.endsWith('_total')) throw bad('only counters may end in _total');
  const seen = new Set<string>();
  for (const l of spec.labelNames) {
    if (!LABEL_RE.test(l) || l.startsWith('__')) throw bad(`label name ${JSON.stringify(l)} is invalid`);
    if (seen.has(l)) throw bad(`label name ${l} is repeated`);
    if (spec.kind === 'histogram' && l === 'le') throw bad('a histogram may not have an `le` label');
    seen.add(l);
  }
  if (spec.kind === 'histogram') {
    const b = spec.buckets ?? [];
    if (b.length === 0) throw bad('a histogram needs at least one bucket');
    for (let i = 0; i < b.length; i++) {
      if (!Number.isFinite(b[i]!)) throw bad('bucket bounds must be finite (+Inf is implicit)');
      if (i > 0 && b[i]! <= b[i - 1]!) throw bad('bucket bounds must increase strictly');
    }
  } else if (spec.buckets?.length) {
    throw bad('only histograms have buckets');
  }
}
