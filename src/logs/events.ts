// Structured log events the collector itself emits (exporters emit theirs through the ABI
// `log` import). Each carries an `event` field, which the Loki shipper turns into a label.
import type { Logger } from 'pino';

export interface QuarantineEvent {
  exporter: string;
  /** Why it was quarantined, e.g. "trap" or "batch_time". */
  reason: string;
  /** Human-readable detail (the trap message, the limit exceeded). */
  detail?: string;
  /** When it will be retried (Unix ms), if it will. */
  retryAt?: number;
}

/**
 * The hook for the exporter supervisor: call it once when it quarantines an exporter, so the
 * quarantine reaches stdout and Loki as an `exporter_quarantined` warn event.
 */
export function logExporterQuarantine(log: Logger, q: QuarantineEvent): void {
  const fields: Record<string, unknown> = { event: 'exporter_quarantined', exporter: q.exporter, reason: q.reason };
  if (q.detail !== undefined) fields.detail = q.detail;
  if (q.retryAt !== undefined) fields.retry_at = new Date(q.retryAt).toISOString();
  log.warn(fields, `exporter ${q.exporter} quarantined: ${q.reason}`);
}
