// Acceptance for the oom sensor on the real kernel: a uniquely named process in a 32 MiB
// memory cgroup allocates past the limit, the OOM killer kills it (inside that cgroup only),
// and the collector counts the kill by comm and memory cgroup and logs it as a structured event.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryCgroup, type MemoryCgroup } from './support/cgroups.js';
import { samples, scrape, startCollector, waitFor, waitReady, onlySensors, type RunningCollector } from './support/collector.js';
import { uniqueBinary } from './support/processes.js';

const LIMIT = 32 << 20;

describe('oom sensor through the collector', () => {
  let c: RunningCollector;
  let cg: MemoryCgroup;

  beforeAll(async () => {
    c = await startCollector({ helper: { statsMs: 200 }, sensors: onlySensors({ oom: {} }) });
    await waitReady(c);
    cg = createMemoryCgroup(`bpfwasm-it-oom-${process.pid}-${Date.now()}`, LIMIT);
  });

  afterAll(async () => {
    await cg?.remove();
    expect(await c.stop()).toBe(0);
  });

  it('counts the kill with its comm and memory cgroup, and logs it as a structured warn event', async () => {
    // tail buffers a newline-free input whole: /dev/zero grows it until the limit kills it.
    const tail = uniqueBinary(execFileSync('sh', ['-c', 'command -v tail']).toString().trim(), 'oomi');
    const child = cg.spawn([tail.path, '/dev/zero'], { addressSpaceKiB: 256 << 10 });
    const signal = await new Promise((r) => child.on('close', (_code, sig) => r(sig)));
    expect(signal).toBe('SIGKILL');

    const label = `comm="${tail.comm}",memcg="${cg.path}"`;
    const m = await waitFor('the kill on /metrics', async () => {
      const s = await scrape(c);
      return [...samples(s, 'bpfwasm_oom_kills_total').keys()].some((k) => k.startsWith(`comm="${tail.comm}"`)) ? s : undefined;
    });
    expect(Object.fromEntries([...samples(m, 'bpfwasm_oom_kills_total')].filter(([k]) => k.includes(tail.comm))))
      .toEqual({ [label]: 1 });

    const event = await waitFor('the oom_kill log event', async () => c.output().split('\n')
      .filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { exporter?: string; event?: string; exporter_fields?: Record<string, unknown> })
      .find((l) => l.exporter === 'oom' && l.event === 'oom_kill' && l.exporter_fields?.comm === tail.comm));
    // What the exporter logged is namespaced under exporter_fields; level, exporter and event are the host's.
    expect(event).toMatchObject({
      level: 40, exporter_fields: {
        pid: child.pid, tid: child.pid, memcg: cg.path, limit_pages: LIMIT / 4096, oom_score_adj: 0, trigger_pid: child.pid, trigger_comm: tail.comm,
      },
    });
    expect(event.exporter_fields!.rss_pages).toBeGreaterThan(LIMIT / 4096 / 2);
    expect(typeof event.exporter_fields!.cgroup).toBe('string');
  });
});
