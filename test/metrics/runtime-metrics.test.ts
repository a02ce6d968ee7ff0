import { describe, expect, it } from 'vitest';
import { serializeText } from '../../src/metrics/exposition.js';
import { RuntimeMetrics } from '../../src/metrics/runtime-metrics.js';
import { SeriesStore } from '../../src/metrics/store.js';

const S = 1_000_000_000n;
const MS = 1_000_000n;

describe('runtime metrics', () => {
  const store = () => new SeriesStore({ maxSeriesPerOwner: 1000, maxLabelValueBytes: 128 });
  const value = (text: string, name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1]);

  it("serve prom-client's default metrics, and the loop delay from the clock's ticks, kept between ticks", async () => {
    const s = store();
    const runtime = new RuntimeMetrics(s, 1000);
    const t0 = process.hrtime.bigint();
    runtime.eventLoop.tick(t0);
    runtime.eventLoop.tick(t0 + S + 7n * MS);
    await runtime.refresh();
    const text = serializeText(s).toString();
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_heap_size_used_bytes', 'nodejs_version_info']) {
      expect(text).toMatch(new RegExp(`^${name}[ {]`, 'm'));
    }
    expect(value(text, 'nodejs_eventloop_lag_p99_seconds')).toBeCloseTo(0.007, 4);
    expect(value(text, 'nodejs_eventloop_lag_min_seconds')).toBeCloseTo(0.007, 4);
    // No tick since: the next refresh keeps the last figures rather than report an empty histogram.
    await new Promise((r) => setTimeout(r, 120)); // refreshes are at least 100 ms apart
    await runtime.refresh();
    expect(value(serializeText(s).toString(), 'nodejs_eventloop_lag_p99_seconds')).toBeCloseTo(0.007, 4);
  });
});
