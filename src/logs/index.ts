// The collector's logger: pino JSON lines to stdout as always and, with log.loki.url set, the
// same lines to Loki through the bounded LokiShipper (docs/LOGS.md).
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import type { Config } from '../config.js';
import type { SeriesStore } from '../metrics/store.js';
import { LokiShipper } from './loki.js';
import { prettyDestination } from './pretty.js';

export { exporterLogHooks, exporterLogRecord, logExporterQuarantine, type QuarantineEvent } from './events.js';

export interface Logging {
  logger: Logger;
  /** Present when log.loki.url is set. */
  loki: LokiShipper | undefined;
  /** Exports the Loki shipper's counters in the collector's store (no-op without Loki). */
  bindMetrics(store: SeriesStore): void;
  /** Pushes what is buffered (within a grace period) and stops shipping; stdout is unaffected. */
  close(graceMs?: number): Promise<void>;
}

/** Stream labels of every line: job and node by default, then the configured ones. */
export function lokiLabels(config: Config): Record<string, string> {
  const node = config.federate.externalLabels.node ?? hostname();
  return { job: 'bpfwasm', node, ...config.log.loki.labels };
}

/** Configured headers, then the credentials (which win over a configured Authorization). */
function requestHeaders(loki: Config['log']['loki']): Record<string, string> {
  const { username, password } = loki.basicAuth;
  if (loki.bearerToken) return { ...loki.headers, Authorization: `Bearer ${loki.bearerToken}` };
  if (username) return { ...loki.headers, Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
  return { ...loki.headers };
}

/** Pretty lines for a person (log.format pretty, or auto on a terminal), JSON lines otherwise. */
export function stdoutDestination(config: Config, isTTY = process.stdout.isTTY === true): pino.DestinationStream {
  const fd1 = pino.destination({ dest: 1, sync: false });
  const pretty = config.log.format === 'pretty' || (config.log.format === 'auto' && isTTY);
  return pretty ? prettyDestination(fd1) : fd1;
}

/** `stdout` is where the lines go (stdoutDestination); tests pass their own. */
export function createLogging(config: Config, stdout: pino.DestinationStream = stdoutDestination(config)): Logging {
  const level = config.log.level;
  const base = { service: 'bpfwasm' };
  // log.time iso: "time":"2026-12-04T15:04:05.123Z" instead of epoch milliseconds.
  const options = { level, base, ...(config.log.time === 'iso' && { timestamp: pino.stdTimeFunctions.isoTime }) };
  const loki = config.log.loki;
  if (!loki.url || level === 'silent') {
    return { logger: pino(options, stdout), loki: undefined, bindMetrics: () => {}, close: async () => {} };
  }
  const shipper = new LokiShipper({
    url: loki.url,
    labels: lokiLabels(config),
    batchIntervalMs: loki.batchIntervalMs,
    maxBufferedLines: loki.maxBufferedLines,
    timeoutMs: loki.timeoutMs,
    headers: requestHeaders(loki),
  });
  // Both get the same serialized line: stdout stays exactly as without Loki.
  const logger = pino(options, pino.multistream([
    { level, stream: stdout },
    { level, stream: shipper },
  ]));
  const receiver = new URL(loki.url).host; // not the URL: a path may carry a tenant token
  shipper.onStateChange = (ok, why) => {
    if (ok) logger.info({ receiver }, 'Loki push succeeded again');
    else logger.warn({ receiver, why }, 'Loki push failed; log lines are buffered, then dropped (bpfwasm_log_lines_dropped_total)');
  };
  shipper.start();
  return {
    logger,
    loki: shipper,
    bindMetrics: (store) => shipper.bindMetrics(store),
    close: (graceMs) => shipper.close(graceMs),
  };
}
