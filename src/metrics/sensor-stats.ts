// What the sensors delivered, as the helper reports it and as the collector received it: held
// once, in the store's series, and read by both /metrics and the status API (GetStatus,
// `bpfwasm status`), so the two can never disagree. Counts the helper keeps as running totals
// since it started are rebased on each helper restart, so the exported counters never go backwards.
import { RECORDS, RECORD_NAME } from '../ingest/generated/events.js';
import type { Counter, CounterSeries, Gauge, GaugeSeries } from './meter.js';

/** A helper counter reported as its running total since the helper started. */
class HelperTotal {
  /** What earlier helper processes counted. */
  private base = 0;
  private last = 0;

  constructor(private readonly series: CounterSeries) {}

  report(total: number): void {
    this.last = total;
    this.series.setTotal(this.base + total);
  }

  /** A new helper process counts from zero: fold what the old one reported into the base. */
  rebase(): void {
    this.base += this.last;
    this.last = 0;
  }

  get value(): number {
    return this.series.value;
  }
}

/** The families SensorStats keeps its series in (declared by PipelineMetrics, in exposition order). */
export interface SensorFamilies {
  readonly received: Counter;
  readonly written: Counter;
  readonly ringDrops: Counter;
  readonly mapFull: Counter;
  readonly submitted: Counter;
  readonly programRuns: Counter;
  readonly programRunSeconds: Counter;
  readonly attached: Gauge;
  readonly info: Gauge;
}

/** One sensor's counts as the status API shows them, summed over CPUs or programs. */
export interface SensorTotals {
  readonly submitted: number;
  readonly ringDrops: number;
  readonly mapFull: number;
  readonly programRuns: number;
  readonly programRunSeconds: number;
}

interface PerSensor {
  /** By CPU (sparse: a CPU is added when it first reports). */
  readonly ringDrops: (HelperTotal | undefined)[];
  readonly submitted: (HelperTotal | undefined)[];
  readonly mapFull: (HelperTotal | undefined)[];
  /** By program name, in the order first reported. */
  readonly programRuns: Map<string, HelperTotal>;
  readonly programRunSeconds: Map<string, HelperTotal>;
  attached: boolean;
  /** The one `bpfwasm_sensor_info` series kept for the sensor. */
  info: GaugeSeries | undefined;
}

/** The sum of totals; a per-CPU list has holes where a CPU never reported. */
const sum = (totals: Iterable<HelperTotal | undefined>): number => {
  let n = 0;
  for (const t of totals) if (t) n += t.value;
  return n;
};

export class SensorStats {
  /** By record type: events received from the helper (interned up front: the per-frame path is one lookup). */
  private readonly received: (CounterSeries | undefined)[] = [];
  /** By record type: events the helper reports having written. */
  private readonly written: (HelperTotal | undefined)[] = [];
  /** By record type: events received when the helper's last report of its writes arrived. */
  private readonly receivedAtReport: number[] = [];
  private readonly sensors = new Map<string, PerSensor>();
  /** Every helper total, to rebase them all when the helper restarts. */
  private readonly totals: HelperTotal[] = [];

  constructor(private readonly families: SensorFamilies) {
    for (const r of RECORDS) this.received[r.id] = families.received.series(r.name);
  }

  /** Hot path, once per EVENTS frame. */
  onReceived(recordType: number, count: number): void {
    this.received[recordType]?.inc(count);
  }

  /** A new helper said HELLO: its drop counters are exported at zero from the start, since "no drops" must be visible, not absent. */
  onHello(sensors: readonly { readonly name: string; readonly record_types: readonly number[] }[], ncpus: number): void {
    for (const s of sensors) {
      const per = this.sensor(s.name);
      for (let cpu = 0; cpu < ncpus; cpu++) {
        this.perCpu(per.ringDrops, this.families.ringDrops, s.name, cpu).report(0);
        this.perCpu(per.submitted, this.families.submitted, s.name, cpu).report(0);
      }
      for (const t of s.record_types) this.writtenOf(t).report(0);
    }
  }

  ringDrops(sensor: string, cpu: number, total: number): void {
    this.perCpu(this.sensor(sensor).ringDrops, this.families.ringDrops, sensor, cpu).report(total);
  }

  submitted(sensor: string, cpu: number, total: number): void {
    this.perCpu(this.sensor(sensor).submitted, this.families.submitted, sensor, cpu).report(total);
  }

  mapFull(sensor: string, cpu: number, total: number): void {
    this.perCpu(this.sensor(sensor).mapFull, this.families.mapFull, sensor, cpu).report(total);
  }

  recordsWritten(recordType: number, total: number): void {
    this.writtenOf(recordType).report(total);
    // The helper flushes its records before each STATS frame, so what arrived by now is what can be compared.
    this.receivedAtReport[recordType] = this.received[recordType]?.value ?? 0;
  }

  programRuns(sensor: string, program: string, total: number): void {
    this.perProgram(this.sensor(sensor).programRuns, this.families.programRuns, sensor, program).report(total);
  }

  programRunSeconds(sensor: string, program: string, total: number): void {
    this.perProgram(this.sensor(sensor).programRunSeconds, this.families.programRunSeconds, sensor, program).report(total);
  }

  /** The helper's stream ended: the next helper process reports its totals from zero. */
  rebase(): void {
    for (const t of this.totals) t.rebase();
  }

  setAttached(sensor: string, attached: boolean): void {
    this.sensor(sensor).attached = attached;
    this.families.attached.set([sensor], attached ? 1 : 0);
  }

  /** Sets the sensor's one `bpfwasm_sensor_info` series: a new label set replaces (frees) the previous one. */
  setInfo(sensor: string, state: string, route: string, reason: string): void {
    const per = this.sensor(sensor);
    const series = this.families.info.series(sensor, state, route, reason);
    if (per.info && per.info.id !== series.id) this.families.info.free([per.info]);
    per.info = series;
    series.set(1);
  }

  attached(sensor: string): boolean {
    return this.sensors.get(sensor)?.attached ?? false;
  }

  totalsOf(sensor: string): SensorTotals {
    const per = this.sensors.get(sensor);
    if (!per) return { submitted: 0, ringDrops: 0, mapFull: 0, programRuns: 0, programRunSeconds: 0 };
    return {
      submitted: sum(per.submitted), ringDrops: sum(per.ringDrops), mapFull: sum(per.mapFull),
      programRuns: sum(per.programRuns.values()), programRunSeconds: sum(per.programRunSeconds.values()),
    };
  }

  /** Events received from the helper, all record types. */
  eventsReceived(): number {
    let n = 0;
    for (const r of this.received) if (r) n += r.value;
    return n;
  }

  /**
   * Events the helper wrote that never arrived, as of its last STATS frame: events received since
   * then are not in its count yet. A surplus of arrivals (records in flight when a helper
   * died, after its last report) is not loss.
   */
  lostInPipe(): number {
    let lost = 0;
    this.written.forEach((w, t) => {
      if (w) lost += Math.max(0, w.value - (this.receivedAtReport[t] ?? 0));
    });
    return lost;
  }

  private sensor(name: string): PerSensor {
    let per = this.sensors.get(name);
    if (!per) {
      per = { ringDrops: [], submitted: [], mapFull: [], programRuns: new Map(), programRunSeconds: new Map(), attached: false, info: undefined };
      this.sensors.set(name, per);
    }
    return per;
  }

  private total(series: CounterSeries): HelperTotal {
    const t = new HelperTotal(series);
    this.totals.push(t);
    return t;
  }

  private perCpu(byCpu: (HelperTotal | undefined)[], family: Counter, sensor: string, cpu: number): HelperTotal {
    return byCpu[cpu] ??= this.total(family.series(sensor, String(cpu)));
  }

  private perProgram(byName: Map<string, HelperTotal>, family: Counter, sensor: string, program: string): HelperTotal {
    let t = byName.get(program);
    if (!t) byName.set(program, (t = this.total(family.series(sensor, program))));
    return t;
  }

  private writtenOf(recordType: number): HelperTotal {
    return this.written[recordType] ??= this.total(this.families.written.series(recordName(recordType)));
  }
}

/** A record type's name as its series label: `type_N` for one this collector does not know. */
export function recordName(recordType: number): string {
  return RECORD_NAME[recordType] ?? `type_${recordType}`;
}
