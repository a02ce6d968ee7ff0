// Acceptance for logs to Loki on the real kernel: a real collector ships its log lines to a
// receiver that decodes the push API as Loki documents it. A non-zero exit, a SIGKILL and an
// OOM kill arrive as structured events with the right labels and fields. With the receiver
// refusing connections, and with one that hangs, the pipeline's counts stay exact, the log
// drops are counted (and add up), and /metrics keeps answering at once.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryCgroup } from './support/cgroups.js';
import {
  onlySensors, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector,
} from './support/collector.js';
import { startLokiReceiver, type LokiReceiver } from '../../bench/doubles/loki.mjs';
import { runTimes, uniqueBinary } from './support/processes.js';

const NODE = 'it-loki-node';

/** Scrapes and times the scrape: the log shipper must never make /metrics wait. */
async function timedScrape(c: RunningCollector, slowest: { ms: number }): Promise<Map<string, number>> {
  const t0 = performance.now();
  const m = await scrape(c);
  slowest.ms = Math.max(slowest.ms, performance.now() - t0);
  return m;
}

function logCounts(m: Map<string, number>) {
  const dropped = samples(m, 'bpfwasm_log_lines_dropped_total');
  return {
    total: m.get('bpfwasm_log_lines_total')!,
    sent: m.get('bpfwasm_log_lines_sent_total')!,
    buffered: m.get('bpfwasm_log_lines_buffered')!,
    bufferFull: dropped.get('reason="buffer_full"')!,
    rejected: dropped.get('reason="rejected"')!,
    shutdown: dropped.get('reason="shutdown"')!,
  };
}

/** Every line handed to the shipper is sent, dropped for a reason, or still buffered. */
function expectBalanced(m: Map<string, number>): void {
  const c = logCounts(m);
  expect(c.sent + c.bufferFull + c.rejected + c.shutdown + c.buffered).toBe(c.total);
}

describe('logs to Loki from a real collector', () => {
  let loki: LokiReceiver;
  let c: RunningCollector;

  beforeAll(async () => {
    loki = await startLokiReceiver();
    c = await startCollector({
      helper: { statsMs: 200 },
      // nonzero: the test's exit 7 is logged (the default lists only 126, 127 and crash signals).
      sensors: onlySensors({ process: { logExits: 'nonzero' }, oom: {} }),
      federate: { externalLabels: { node: NODE } },
      log: { loki: { url: loki.url, labels: { team: 'infra' }, batchIntervalMs: 100 } },
    });
    await waitReady(c);
  });

  afterAll(async () => {
    expect(await c.stop()).toBe(0);
    // The shutdown's own lines are pushed before the process exits.
    expect(loki.entries.some((e) => JSON.parse(e.line).msg === 'shutting down')).toBe(true);
    await loki.close();
  });

  const labels = (level: string, event: string) => ({ job: 'bpfwasm', node: NODE, team: 'infra', level, event });
  /** What the exporter itself logged: the host namespaces it under exporter_fields. */
  const own = (e: { fields: Record<string, unknown> }) => (e.fields.exporter_fields ?? {}) as Record<string, unknown>;

  it('ships a non-zero exit as a process_exit event', async () => {
    const sh = uniqueBinary('/bin/sh', 'lkx');
    // Other tests' failing processes share the exporter's log rate limit: run again until one gets through.
    const pids: number[] = [];
    const event = await waitFor('the process_exit event', async () => {
      const r = spawnSync(sh.path, ['-c', 'sleep 0.05; exit 7']);
      expect(r.status).toBe(7);
      pids.push(r.pid!);
      return loki.events('process_exit').find((e) => own(e).comm === sh.comm);
    }, 20_000, 300);
    expect(event.labels).toEqual(labels('info', 'process_exit'));
    expect(event.fields).toMatchObject({
      level: 30, service: 'bpfwasm', exporter: 'process', msg: 'process_exit', event: 'process_exit',
      exporter_fields: { event: 'process_exit', exit_code: 7, signal: null },
    });
    expect(pids).toContain(own(event).pid);
    expect(own(event).lifetime_seconds).toBeGreaterThanOrEqual(0.05);
    expect(own(event).lifetime_seconds).toBeLessThan(5);
    expect(event.ts).toBe(BigInt(event.fields.time as number) * 1_000_000n);
  });

  it('ships a SIGKILL as a process_exit event naming the signal', async () => {
    const sleep = uniqueBinary(execFileSync('sh', ['-c', 'command -v sleep']).toString().trim(), 'lks');
    const event = await waitFor('the SIGKILL process_exit event', async () => {
      const child = spawn(sleep.path, ['30']);
      await new Promise((r) => child.once('spawn', r));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
      return loki.events('process_exit').find((e) => own(e).comm === sleep.comm);
    }, 20_000, 300);
    expect(event.labels).toEqual(labels('info', 'process_exit'));
    expect(own(event)).toMatchObject({ exit_code: 0, signal: 'SIGKILL' });
  });

  it('ships an OOM kill in a memory-limited cgroup as a warn oom_kill event', async () => {
    const LIMIT = 32 << 20;
    const cg = createMemoryCgroup(`bpfwasm-it-loki-${process.pid}-${Date.now()}`, LIMIT);
    try {
      const tail = uniqueBinary(execFileSync('sh', ['-c', 'command -v tail']).toString().trim(), 'lko');
      const child = cg.spawn([tail.path, '/dev/zero'], { addressSpaceKiB: 256 << 10 });
      expect(await new Promise((r) => child.on('close', (_code, sig) => r(sig)))).toBe('SIGKILL');
      const event = await waitFor('the oom_kill event', async () => loki.events('oom_kill').find((e) => own(e).comm === tail.comm));
      expect(event.labels).toEqual(labels('warn', 'oom_kill'));
      expect(event.fields).toMatchObject({
        level: 40, exporter: 'oom', event: 'oom_kill', exporter_fields: { pid: child.pid, memcg: cg.path, limit_pages: LIMIT / 4096 },
      });
      // The victim's own exit is a SIGKILL too: it is logged as such.
      const exit = await waitFor('the victim\'s process_exit', async () => loki.events('process_exit').find((e) => own(e).pid === child.pid));
      expect(own(exit)).toMatchObject({ comm: tail.comm, signal: 'SIGKILL' });
    } finally {
      await cg.remove();
    }
  });

  it('counts what it sent, and the receiver got every line exactly as JSON', async () => {
    const m = await scrape(c);
    const counts = logCounts(m);
    expect(counts.sent).toBeGreaterThan(0);
    expect(counts.sent).toBeLessThanOrEqual(loki.entries.length);
    expect(counts.bufferFull + counts.rejected + counts.shutdown).toBe(0);
    expectBalanced(m);
    expect(loki.requests.every((r) => r.status === 204)).toBe(true);
    expect(loki.entries.every((e) => e.contentType === 'application/json' && e.labels.job === 'bpfwasm')).toBe(true);
  });
});

describe('a Loki outage does not touch the pipeline', () => {
  let loki: LokiReceiver | undefined;
  let c: RunningCollector | undefined;

  afterEach(async () => {
    if (c) expect(await c.stop()).toBe(0);
    await loki?.close();
    c = loki = undefined;
  });

  /** 300 exits of a unique failing binary: 300 exact counts, and a log line each (rate-limited). */
  async function failingLoad(col: RunningCollector, slowest: { ms: number }): Promise<Map<string, number>> {
    const bin = uniqueBinary('/bin/false', 'lkf');
    runTimes(bin.path, 300);
    const label = `comm="${bin.comm}"`;
    const m = await waitFor('300 exits on /metrics', async () => {
      const s = await timedScrape(col, slowest);
      return (samples(s, 'bpfwasm_process_lifetime_seconds_count').get(label) ?? 0) >= 300 ? s : undefined;
    });
    expect(samples(m, 'bpfwasm_process_exec_total').get(label)).toBe(300);
    expect(samples(m, 'bpfwasm_process_exit_total').get(`${label},exit_code="1"`)).toBe(300);
    expect(samples(m, 'bpfwasm_process_lifetime_seconds_count').get(label)).toBe(300);
    const received = samples(m, 'bpfwasm_events_received_total');
    const processed = samples(m, 'bpfwasm_events_processed_total');
    expect(processed).toEqual(received);
    expect([...samples(m, 'bpfwasm_sensor_ring_drops_total').values()].every((v) => v === 0)).toBe(true);
    return m;
  }

  async function start(url: string): Promise<RunningCollector> {
    const col = await startCollector({
      helper: { statsMs: 200 },
      // nonzero: the 300 exit-1s are logged, enough lines to overflow the 20-line buffer.
      sensors: onlySensors({ process: { logExits: 'nonzero' } }),
      log: { loki: { url, batchIntervalMs: 100, maxBufferedLines: 20, timeoutMs: 500 } },
    });
    await waitReady(col);
    return col;
  }

  it('with the receiver refusing connections: exact counts, log drops counted, /metrics prompt', async () => {
    loki = await startLokiReceiver();
    const url = loki.url;
    await loki.close(); // nothing listens there now
    loki = undefined;
    c = await start(url);
    const slowest = { ms: 0 };
    await failingLoad(c, slowest);
    const m = await waitFor('log drops', async () => {
      const s = await timedScrape(c!, slowest);
      return logCounts(s).bufferFull > 0 ? s : undefined;
    });
    expect(logCounts(m)).toMatchObject({ sent: 0, rejected: 0, shutdown: 0 });
    expect(logCounts(m).buffered).toBeLessThanOrEqual(20);
    expectBalanced(m);
    expect(samples(m, 'bpfwasm_log_push_requests_total').get('code="error"')).toBeGreaterThan(0);
    expect(slowest.ms).toBeLessThan(1000);
    // The outage is reported once on stdout, not once per failed push.
    expect(c.output().split('\n').filter((l) => l.includes('Loki push failed'))).toHaveLength(1);
  });

  it('with a receiver that hangs: exact counts, pushes time out, drops counted, and shipping resumes', async () => {
    loki = await startLokiReceiver();
    loki.mode = { kind: 'hang' };
    c = await start(loki.url);
    const slowest = { ms: 0 };
    await failingLoad(c, slowest);
    const m = await waitFor('timed-out pushes and log drops', async () => {
      const s = await timedScrape(c!, slowest);
      const timeouts = samples(s, 'bpfwasm_log_push_requests_total').get('code="timeout"') ?? 0;
      return timeouts > 0 && logCounts(s).bufferFull > 0 ? s : undefined;
    });
    expect(logCounts(m)).toMatchObject({ sent: 0, rejected: 0, shutdown: 0 });
    expectBalanced(m);
    expect(slowest.ms).toBeLessThan(1000);

    loki.mode = { kind: 'ok' };
    const after = await waitFor('the buffered lines delivered', async () => {
      const s = await scrape(c!);
      const k = logCounts(s);
      return k.sent > 0 && k.buffered === 0 ? s : undefined;
    });
    expectBalanced(after);
    // The failure line was itself buffered (and, the oldest, dropped); the recovery line arrives.
    await waitFor('the recovery line', async () => (loki!.entries.some((e) => JSON.parse(e.line).msg === 'Loki push succeeded again') ? true : undefined));
    expect(c.output().split('\n').filter((l) => l.includes('Loki push failed'))).toHaveLength(1);
  });
});
