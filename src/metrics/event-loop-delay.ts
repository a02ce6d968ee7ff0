// The event loop's delay, sampled by a timer the collector already runs (its 1 s clock) instead of
// prom-client's sampler, a libuv timer of its own: one main-thread wake-up a second fewer (a fifth
// of them in an exec storm). It also reports the delay itself: Node's monitorEventLoopDelay records
// the whole interval between its timer's runs, so at a 1 s resolution every percentile read ~1.0 s.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** The delays since the last `take`, in seconds. */
export interface DelaySummary {
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

export class EventLoopDelay {
  private histogram: RecordableHistogram = createHistogram();
  private last: bigint | undefined;

  /** `intervalNs`: the period of the timer that calls `tick`. */
  constructor(private readonly intervalNs: number) {}

  /** From a timer due every interval: how much later than that it ran is the loop's delay then. */
  tick(now: bigint = process.hrtime.bigint()): void {
    if (this.last !== undefined) {
      // Recorded in ns, at least 1 (a histogram takes no 0); a timer never runs early, so less is the clock's rounding.
      this.histogram.record(Math.max(1, Number(now - this.last) - this.intervalNs));
    }
    this.last = now;
  }

  /** The delays recorded since the last call, then starts over; undefined when none was. */
  take(): DelaySummary | undefined {
    const h = this.histogram;
    if (h.count === 0) return undefined;
    const s = (ns: number) => ns / 1e9;
    const summary = {
      min: s(h.min), max: s(h.max), mean: s(h.mean), stddev: s(h.stddev),
      p50: s(h.percentile(50)), p90: s(h.percentile(90)), p99: s(h.percentile(99)),
    };
    h.reset();
    return summary;
  }
}
