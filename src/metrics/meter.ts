// The collector's own metrics as typed objects: each family is declared once, at start-up, with
// its name, help and label names fixed, and updated through its object or a series interned from
// it, never looked up by a name string. An update through a series is one slot write in the
// store, with nothing allocated; label sets known only at run time go through the family.
import { COLLECTOR_OWNER, type SeriesStore } from './store.js';

/** A counter series: only ever goes up. */
export class CounterSeries {
  constructor(private readonly store: SeriesStore, readonly id: number) {}

  /** False, and nothing counted, when the total would overflow to +Inf. */
  inc(by = 1): boolean {
    return this.store.add(this.id, by);
  }

  /** Mirrors a running total the collector keeps elsewhere (the decoder, the resolver, the helper). */
  setTotal(total: number): void {
    this.store.set(this.id, total);
  }

  get value(): number {
    return this.store.value(this.id);
  }
}

export class GaugeSeries {
  constructor(private readonly store: SeriesStore, readonly id: number) {}

  set(value: number): void {
    this.store.set(this.id, value);
  }

  add(delta: number): void {
    this.store.add(this.id, delta);
  }

  get value(): number {
    return this.store.value(this.id);
  }
}

export class HistogramSeries {
  constructor(private readonly store: SeriesStore, readonly id: number) {}

  observe(value: number): void {
    this.store.observe(this.id, value);
  }
}

/** A declared family: interns label sets into series (once each; keep the series for a hot path). */
abstract class Family<S> {
  constructor(protected readonly store: SeriesStore, readonly id: number) {}

  /** The series of these label values (in the family's label order), created at zero the first time. */
  abstract series(...labelValues: string[]): S;

  /** Removes series of this family (a label set gone for good, e.g. a replaced info series). */
  free(series: readonly { readonly id: number }[]): void {
    this.store.free(series.map((s) => s.id));
  }
}

export class Counter extends Family<CounterSeries> {
  series(...labelValues: string[]): CounterSeries {
    return new CounterSeries(this.store, this.store.series(this.id, labelValues));
  }

  /** Counts into the series of a label set known only at run time (not for a hot path: the set is looked up). */
  inc(labelValues: readonly string[], by = 1): void {
    this.store.add(this.store.series(this.id, labelValues), by);
  }

  /** `setTotal` on the series of a label set known only at run time. */
  setTotal(labelValues: readonly string[], total: number): void {
    this.store.set(this.store.series(this.id, labelValues), total);
  }
}

export class Gauge extends Family<GaugeSeries> {
  series(...labelValues: string[]): GaugeSeries {
    return new GaugeSeries(this.store, this.store.series(this.id, labelValues));
  }

  /** Sets the series of a label set known only at run time (not for a hot path: the set is looked up). */
  set(labelValues: readonly string[], value: number): void {
    this.store.set(this.store.series(this.id, labelValues), value);
  }
}

export class Histogram extends Family<HistogramSeries> {
  series(...labelValues: string[]): HistogramSeries {
    return new HistogramSeries(this.store, this.store.series(this.id, labelValues));
  }
}

/**
 * Declares families of one owner in a store. Declaring again what the owner declared before
 * (another server on the same store, a reload) returns the same family; the store refuses a
 * name another owner holds (METRIC_CONFLICT).
 */
export class Meter {
  constructor(private readonly store: SeriesStore, private readonly owner = COLLECTOR_OWNER) {}

  /** `name` ends in `_total`. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return new Counter(this.store, this.store.declare(this.owner, { name, help, kind: 'counter', labelNames }));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return new Gauge(this.store, this.store.declare(this.owner, { name, help, kind: 'gauge', labelNames }));
  }

  /** `buckets`: upper bounds, strictly increasing, without +Inf. */
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return new Histogram(this.store, this.store.declare(this.owner, { name, help, kind: 'histogram', labelNames, buckets }));
  }
}
