// createLogging: stdout keeps pino's JSON lines, and with log.loki.url the same lines reach
// Loki labelled job, node, level and event; the quarantine hook emits its event.
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { createLogging, logExporterQuarantine, lokiLabels, stdoutDestination, type Logging } from '../../src/logs/index.js';
import { prettyDestination, prettyLine } from '../../src/logs/pretty.js';
import { SeriesStore } from '../../src/metrics/store.js';
import { waitFor } from '../integration/support/collector.js';
import { startLokiReceiver, type LokiReceiver } from '../../bench/doubles/loki.mjs';

let receiver: LokiReceiver | undefined;
let logging: Logging | undefined;

afterEach(async () => {
  await logging?.close(0);
  await receiver?.close();
  logging = receiver = undefined;
});

function capture(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

describe('createLogging', () => {
  it('sends basic auth when configured', async () => {
    receiver = await startLokiReceiver();
    logging = createLogging(buildConfig({ log: { loki: { url: receiver.url, batchIntervalMs: 20, basicAuth: { username: 'u', password: 'p:w' } } } }), capture());
    logging.logger.info('x');
    await waitFor('a push', async () => (receiver!.requests.length ? true : undefined), 5000, 10);
    expect(receiver.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('u:p:w').toString('base64')}`);
  });

  it('without a Loki URL logs to stdout only', async () => {
    const out = capture();
    logging = createLogging(buildConfig({}), out);
    logging.logger.info({ a: 1 }, 'hello');
    expect(logging.loki).toBeUndefined();
    expect(JSON.parse(out.lines[0]!)).toMatchObject({ level: 30, service: 'bpfwasm', a: 1, msg: 'hello' });
  });

  it('log.time iso writes ISO 8601 times instead of epoch milliseconds', () => {
    const out = capture();
    logging = createLogging(buildConfig({ log: { time: 'iso' } }), out);
    logging.logger.info('hello');
    expect(JSON.parse(out.lines[0]!).time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('pretty lines for a terminal: time, level name, message, then the fields', () => {
    const out = capture();
    logging = createLogging(buildConfig({}), prettyDestination(out));
    logging.logger.warn({ exporter: 'tcp', why: 'trap storm', n: 3 }, 'exporter quarantined');
    expect(out.lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}exporter quarantined exporter=tcp why="trap storm" n=3\n$/);
    expect(prettyLine('not json')).toBe('not json');
    expect(prettyLine(JSON.stringify({ level: 30, time: '2026-12-04T15:04:05.123Z', msg: 'm' }))).toBe('15:04:05.123 INFO  m\n');
  });

  it('chooses pretty on a terminal and JSON off one unless log.format says', () => {
    const isPretty = (d: unknown) => !('fd' in (d as object));
    expect(isPretty(stdoutDestination(buildConfig({}), true))).toBe(true);
    expect(isPretty(stdoutDestination(buildConfig({}), false))).toBe(false);
    expect(isPretty(stdoutDestination(buildConfig({ log: { format: 'json' } }), true))).toBe(false);
    expect(isPretty(stdoutDestination(buildConfig({ log: { format: 'pretty' } }), false))).toBe(true);
  });

  it('labels streams job and node (federate.externalLabels.node, else the hostname), configured labels on top', () => {
    expect(lokiLabels(buildConfig({}))).toEqual({ job: 'bpfwasm', node: hostname() });
    expect(lokiLabels(buildConfig({ federate: { externalLabels: { node: 'edge-7' } }, log: { loki: { labels: { job: 'x', dc: 'a' } } } })))
      .toEqual({ job: 'x', node: 'edge-7', dc: 'a' });
  });

  it('sends stdout\'s exact lines to Loki, respecting the level, with counts exported', async () => {
    receiver = await startLokiReceiver();
    const out = capture();
    const config = buildConfig({
      federate: { externalLabels: { node: 'n9' } },
      log: { level: 'info', loki: { url: receiver.url, labels: { team: 'infra' }, batchIntervalMs: 20, bearerToken: 's3cret', headers: { 'X-Scope-OrgID': 'fleet-a' } } },
    });
    logging = createLogging(config, out);
    const store = new SeriesStore({ maxSeriesPerOwner: 100, maxLabelValueBytes: 100 });
    logging.bindMetrics(store);
    const log = logging.logger;
    log.debug('not at info');
    log.info({ exporter: 'oom', event: 'oom_kill', pid: 12 }, 'oom_kill');
    logExporterQuarantine(log, { exporter: 'mine', reason: 'trap', detail: 'unreachable', retryAt: Date.UTC(2030, 0, 1) });
    await waitFor('2 entries', async () => (receiver!.entries.length === 2 ? true : undefined), 5000, 10);
    expect(out.lines).toHaveLength(2);
    expect(receiver.entries.map((e) => `${e.line}\n`)).toEqual(out.lines); // byte for byte
    expect(receiver.entries.map((e) => e.labels)).toEqual([
      { job: 'bpfwasm', node: 'n9', team: 'infra', level: 'info', event: 'oom_kill' },
      { job: 'bpfwasm', node: 'n9', team: 'infra', level: 'warn', event: 'exporter_quarantined' },
    ]);
    expect(receiver.events('exporter_quarantined')[0]!.fields).toMatchObject({
      level: 40, exporter: 'mine', reason: 'trap', detail: 'unreachable', retry_at: '2030-01-01T00:00:00.000Z', msg: 'exporter mine quarantined: trap',
    });
    expect(receiver.requests[0]!.headers).toMatchObject({ authorization: 'Bearer s3cret', 'x-scope-orgid': 'fleet-a' });
    await waitFor('sent counted', async () => (logging!.loki!.snapshot().sent === 2 ? true : undefined), 2000, 10);
    const sent = store.families.find((f) => f.spec.name === 'bpfwasm_log_lines_sent_total')!;
    expect(store.value([...sent.series][0]!)).toBe(2);
  });
});
