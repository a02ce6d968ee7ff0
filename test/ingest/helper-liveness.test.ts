// Stall detection on the decoder's frame count, with a hand-driven clock.
import { describe, expect, it } from 'vitest';
import { HelperLiveness, stallThresholdMs } from '../../src/ingest/helper-liveness.js';

function liveness(stallMs = 3000) {
  let now = 0;
  const l = new HelperLiveness(stallMs, () => now);
  return { l, at: (ms: number) => { now = ms; } };
}

describe('HelperLiveness', () => {
  it.each([[1000, 3000], [200, 2000], [50, 2000], [5000, 15000]])('stats every %i ms: stalled after %i ms of silence', (statsMs, stallMs) => {
    expect(stallThresholdMs(statsMs)).toBe(stallMs);
  });

  it('says nothing before the helper is ready, however long the silence', () => {
    const { l, at } = liveness();
    at(60_000);
    expect(l.check(0)).toBeUndefined();
    expect(l.stalled).toBe(false);
  });

  it('stalls once after the threshold without a frame, and recovers when frames flow again', () => {
    const { l, at } = liveness();
    l.watch(10);
    at(2999);
    expect(l.check(10)).toBeUndefined();
    at(3000);
    expect(l.check(10)).toBe('stalled');
    expect(l.silentMs).toBe(3000);
    at(9000);
    expect(l.check(10)).toBeUndefined(); // still stalled, counted once
    expect([l.stalled, l.stalls]).toEqual([true, 1]);
    expect(l.check(11)).toBe('recovered');
    expect([l.stalled, l.silentMs]).toEqual([false, 0]);
    at(11_000);
    expect(l.check(12)).toBeUndefined();
    at(14_000);
    expect(l.check(12)).toBe('stalled');
    expect(l.stalls).toBe(2);
  });

  it('a frame every interval keeps it live; an exit is not a stall', () => {
    const { l, at } = liveness();
    l.watch(0);
    for (let t = 1; t <= 20; t++) {
      at(t * 1000);
      expect(l.check(t)).toBeUndefined();
    }
    l.unwatch();
    at(60_000);
    expect(l.check(20)).toBeUndefined();
    expect([l.stalled, l.stalls]).toEqual([false, 0]);
  });
});
