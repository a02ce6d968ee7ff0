// The collector's memory around whole-node profiles: RSS before, during and after, and back
// near idle 30 s after them (#17): symbol tables are cached within profile.cacheBytes
// only while profiles follow each other, never file bytes, and the profile data is dropped once
// the profile is symbolized; then a compacting GC, and glibc's heap kept small (bin/bpfwasm).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, waitReady, type RunningCollector } from './support/collector.js';

let c: RunningCollector;

function rssMiB(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  c = await startCollector({ log: { level: 'warn' } }); // the default sensors and exporters
  await waitReady(c);
});

afterAll(async () => {
  await c?.stop();
});

describe('collector memory around whole-node profiles', () => {
  it('returns near idle RSS 30 s after two profiles taken as a new user would', async () => {
    await sleep(5000); // past start-up's allocations
    const idle = rssMiB(c.proc.pid!);
    let peak = idle;
    const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(c.proc.pid!)); }, 100);
    const after: number[] = [];
    let rightAfter: number;
    try {
      // `curl localhost:9745/flamegraph` twice: the defaults, 10 s at 99 Hz, every process on the node.
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${c.url}/flamegraph`);
        const page = await res.text();
        expect(res.status, page.slice(0, 500)).toBe(200);
        expect(Number(/(\d+) samples at/.exec(page)?.[1])).toBeGreaterThan(0);
      }
      rightAfter = rssMiB(c.proc.pid!);
      for (let s = 0; s < 30; s++) {
        await sleep(1000);
        after.push(rssMiB(c.proc.pid!));
      }
    } finally {
      clearInterval(sampler);
    }
    const last = after.at(-1)!;
    console.log(`profile memory: RSS idle ${idle.toFixed(1)} MiB, peak during two 10 s whole-node profiles ${peak.toFixed(1)} MiB, ` +
      `right after ${rightAfter.toFixed(1)} MiB, after 10 s ${after[9]!.toFixed(1)} MiB, after 30 s ${last.toFixed(1)} MiB`);
    expect(peak).toBeGreaterThan(idle + 1); // the profiles really ran in this process
    // #17's goal is within 10% of idle (bench/profile-memory.mjs); measured here +2.3% on a loaded
    // machine (idle 98.4, peak 184, 30 s after 100.7 MiB). It was +18% to +27% before the
    // compacting GC and bin/bpfwasm's glibc tunable (which startCollector runs), +40% before
    // the symbol caches were dropped: the margin is for a busy host, not for regressions.
    expect(last).toBeLessThanOrEqual(idle * 1.15);
  }, 120_000);
});
