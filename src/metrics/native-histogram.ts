// Native (sparse exponential) histograms, kept beside an exporter histogram's classic buckets
// when `metrics.nativeHistograms` is on, and served through the protobuf format.
//
// Parameters follow Prometheus' client_golang:
// - schema 3 is what its documented bucket factor of 1.1 resolves to (each bucket 2^(1/8) ≈ 1.09
//   times the previous one, so a quantile is off by at most ~4.4%);
// - the zero threshold is its default, 2^-128: only zero (and denormal noise) falls in the zero
//   bucket, and a threshold above 0 is what makes Prometheus 2.42 take a histogram with no
//   observations yet for a native one rather than a classic one;
// - at most 160 buckets per histogram (OpenTelemetry's default for exponential histograms): past
//   that, the resolution halves (schema - 1), as client_golang does with a bucket limit.

export const NATIVE_SCHEMA = 3;
export const NATIVE_ZERO_THRESHOLD = 2 ** -128;
export const NATIVE_MAX_BUCKETS = 160;
const MIN_SCHEMA = -4;

/** Per schema 1..8: the 2^schema upper bounds of the buckets within one power of two, as fractions in [0.5, 1). */
const BOUNDS: Float64Array[] = [];
for (let s = 1; s <= 8; s++) {
  const n = 1 << s;
  BOUNDS[s] = Float64Array.from({ length: n }, (_, k) => 2 ** (k / n - 1));
}

/**
 * The index of the bucket holding `v` (> 0): bucket i covers (base^(i-1), base^i] with
 * base = 2^(2^-schema), computed as client_golang does (frexp, then a search among the bounds)
 * so that values on a bound land in the same bucket as in Go.
 */
export function bucketIndex(v: number, schema: number): number {
  if (v === Infinity) return bucketIndex(Number.MAX_VALUE, schema) + 1;
  // frexp: v = frac * 2^exp with frac in [0.5, 1); log2 may be off by one near powers of two.
  let exp = Math.floor(Math.log2(v)) + 1;
  let frac = v * 2 ** -exp;
  if (frac >= 1) {
    frac /= 2;
    exp++;
  } else if (frac < 0.5) {
    frac *= 2;
    exp--;
  }
  if (schema > 0) {
    const bounds = BOUNDS[schema]!;
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bounds[mid]! < frac) lo = mid + 1;
      else hi = mid;
    }
    return lo + (exp - 1) * bounds.length;
  }
  // Schema ≤ 0: one bucket spans 2^-schema powers of two; exact powers of two belong below.
  const key = frac === 0.5 ? exp - 1 : exp;
  return (key + (1 << -schema) - 1) >> -schema;
}

/** One sign's buckets, dense between the lowest and highest populated index. */
export class BucketRow {
  /** counts[i] is the count of bucket index `base + i`. */
  private counts = new Float64Array(0);
  private base = 0;
  /** Populated index range; empty while max < min. */
  min = 0;
  max = -1;

  get width(): number {
    return this.max < this.min ? 0 : this.max - this.min + 1;
  }

  count(index: number): number {
    const at = index - this.base;
    return at >= 0 && at < this.counts.length ? this.counts[at]! : 0;
  }

  add(index: number, n = 1): void {
    if (index < this.base || index >= this.base + this.counts.length) this.grow(index);
    this.counts[index - this.base]! += n;
    if (this.max < this.min) this.min = this.max = index;
    else if (index < this.min) this.min = index;
    else if (index > this.max) this.max = index;
  }

  /** Halves the resolution: bucket i becomes bucket ceil(i / 2) of the next lower schema. */
  reduce(): void {
    if (this.max < this.min) return;
    const old = this.counts;
    const oldBase = this.base;
    const { min, max } = this;
    this.counts = new Float64Array(0);
    this.max = -1;
    for (let i = min; i <= max; i++) {
      const c = old[i - oldBase]!;
      if (c !== 0) this.add((i + 1) >> 1, c);
    }
  }

  /** Room for `index` with headroom on both sides, so a widening range reallocates only O(log n) times. */
  private grow(index: number): void {
    const empty = this.max < this.min;
    const lo = empty ? index : Math.min(index, this.min);
    const hi = empty ? index : Math.max(index, this.max);
    const need = hi - lo + 1;
    const next = new Float64Array(Math.max(16, need * 2));
    const base = lo - ((next.length - need) >> 1);
    if (!empty) next.set(this.counts.subarray(this.min - this.base, this.max - this.base + 1), this.min - base);
    this.counts = next;
    this.base = base;
  }
}

export class NativeHistogram {
  schema = NATIVE_SCHEMA;
  zeroCount = 0;
  readonly positive = new BucketRow();
  readonly negative = new BucketRow();

  /** NaN lands in no bucket (it still counts in the histogram's count, kept by the classic side). */
  observe(v: number, n = 1): void {
    const abs = Math.abs(v);
    if (abs <= NATIVE_ZERO_THRESHOLD) {
      this.zeroCount += n;
      return;
    }
    if (Number.isNaN(abs)) return;
    (v > 0 ? this.positive : this.negative).add(bucketIndex(abs, this.schema), n);
    while (this.positive.width + this.negative.width > NATIVE_MAX_BUCKETS && this.schema > MIN_SCHEMA) {
      this.positive.reduce();
      this.negative.reduce();
      this.schema--;
    }
  }
}

/** Spans and count deltas of one sign, in the protobuf layout (BucketSpan offsets, sint64 deltas). */
export interface SparseBuckets {
  /** Pairs: offset (gap to the previous span, or the first index), length. */
  spans: number[];
  deltas: number[];
}

/**
 * Encodes a row as spans and deltas. Like client_golang, runs of up to two empty buckets are
 * filled with zero deltas instead of opening a new span: a delta costs one byte, a span at least two.
 */
export function sparseBuckets(row: BucketRow): SparseBuckets {
  const spans: number[] = [];
  const deltas: number[] = [];
  let prevCount = 0;
  let spanEnd = 0; // index after the current span's last bucket
  for (let i = row.min; i <= row.max; i++) {
    const c = row.count(i);
    if (c === 0) continue;
    const gap = i - spanEnd;
    if (spans.length === 0 || gap > 2) {
      spans.push(spans.length === 0 ? i : gap, 1);
    } else {
      for (let g = 0; g < gap; g++) {
        deltas.push(0 - prevCount); // not -prevCount: that is -0 after the first empty bucket
        prevCount = 0;
      }
      spans[spans.length - 1]! += gap + 1;
    }
    deltas.push(c - prevCount);
    prevCount = c;
    spanEnd = i + 1;
  }
  return { spans, deltas };
}

/** The native side of every observed histogram series of a store. */
export class NativeHistograms {
  private readonly bySeries: (NativeHistogram | undefined)[] = [];
  /** Families that received an observation: they are served as native histograms from then on. */
  readonly families = new Set<number>();

  /** `fresh`: the series has no observation yet, so any state under its id belongs to a freed series. */
  observe(familyId: number, seriesId: number, value: number, fresh: boolean, n = 1): void {
    let h = this.bySeries[seriesId];
    if (!h || fresh) {
      this.bySeries[seriesId] = h = new NativeHistogram();
      this.families.add(familyId);
    }
    h.observe(value, n);
  }

  /** The native state of a series with at least one observation. */
  get(seriesId: number): NativeHistogram | undefined {
    return this.bySeries[seriesId];
  }
}
