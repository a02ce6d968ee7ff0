// `promtool check metrics` (parse + lint) on the live /metrics of a running collector.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUniqueBinary } from './support/activity.js';
import { samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { PROMTOOL } from './support/prometheus.js';

describe('promtool check metrics', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    c = await startCollector({ helper: { statsMs: 200 } });
    await waitReady(c);
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('accepts the live /metrics output, after process activity, without a lint finding', async () => {
    const comm = runUniqueBinary(3);
    await waitFor('the exits in /metrics', async () =>
      samples(await scrape(c), 'bpfwasm_process_lifetime_seconds_count').get(`comm="${comm}"`) === 3 ? true : undefined);
    const body = await (await fetch(`${c.url}/metrics`)).text();
    expect(body).toContain(`bpfwasm_process_exec_total{comm="${comm}"} 3\n`);
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect({ status: check.status, output: check.stdout + check.stderr }).toEqual({ status: 0, output: '' });
  });
});
