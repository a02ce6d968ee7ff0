import { describe, expect, it } from 'vitest';
import { EventLoopDelay } from '../../src/metrics/event-loop-delay.js';

const S = 1_000_000_000n;
const MS = 1_000_000n;

/** A 1 s clock's ticks, each `lateMs` after it was due. */
function ticked(lateMs: number[]): EventLoopDelay {
  const d = new EventLoopDelay(1e9);
  let at = 5n * S;
  d.tick(at);
  for (const late of lateMs) {
    at += S + BigInt(late) * MS;
    d.tick(at);
  }
  return d;
}

describe('event-loop delay sampled by the collector clock', () => {
  it.each([
    { lateMs: [2], min: 0.002, max: 0.002, p50: 0.002 },
    { lateMs: [1, 3, 50], min: 0.001, max: 0.05, p50: 0.003 },
    { lateMs: [0, 0, 0, 0], min: 1e-9, max: 1e-9, p50: 1e-9 },
  ])('records how late each tick ran, not the interval: $lateMs ms', ({ lateMs, min, max, p50 }) => {
    const s = ticked(lateMs).take()!;
    // The histogram keeps 3 significant digits.
    expect(s.min).toBeCloseTo(min, 5);
    expect(s.max).toBeCloseTo(max, 4);
    expect(s.p50).toBeCloseTo(p50, 4);
    expect(s.max).toBeLessThan(0.1); // the 1 s period is not in it: Node's monitorEventLoopDelay at 1 s read ~1.0 s
  });

  it('has nothing before its second tick, and starts over after each take', () => {
    const d = new EventLoopDelay(1e9);
    d.tick(0n);
    expect(d.take()).toBeUndefined();
    d.tick(S + 4n * MS);
    expect(d.take()?.max).toBeCloseTo(0.004, 4);
    expect(d.take()).toBeUndefined();
  });
});
