// Structured log events: the collector's own (each carries an `event` field, which the Loki
// shipper turns into a label) and the records built from exporter log lines. The host builds
// every record itself: an exporter's fields are namespaced under `exporter_fields`, never merged
// over the host's keys, so no record has a duplicate key and no exporter can set `event`.
import type { Logger } from 'pino';

/** Why an exporter was quarantined: a deadline overrun, a trap storm, its thread died, or it failed to load again. */
export type QuarantineReason = 'timeout' | 'trap' | 'crash' | 'load_failed';

export interface QuarantineEvent {
  exporter: string;
  reason: QuarantineReason;
  /** Human-readable detail (the trap message, the limit exceeded). */
  detail?: string;
  /** When it will be retried (Unix ms), if it will. */
  retryAt?: number;
  /** The quarantine's length, in ms. */
  retryInMs?: number;
}

/** The `exporter_quarantined` record: its fields as README.md ("Logs to Loki") lists them, and its message. */
export function quarantineRecord(q: QuarantineEvent): LogRecord {
  const fields: Record<string, unknown> = { event: 'exporter_quarantined', exporter: q.exporter, reason: q.reason };
  if (q.detail !== undefined) fields.detail = q.detail;
  if (q.retryAt !== undefined) fields.retry_at = new Date(q.retryAt).toISOString();
  if (q.retryInMs !== undefined) fields.retry_in_ms = q.retryInMs;
  return { fields, msg: `exporter ${q.exporter} quarantined: ${q.reason}` };
}

/**
 * The one way a quarantine is logged (ExporterHost.quarantined in the collector): a warn
 * `exporter_quarantined` event, so it reaches stdout and Loki with its own label.
 */
export function logExporterQuarantine(log: Logger, q: QuarantineEvent): void {
  const record = quarantineRecord(q);
  log.warn(record.fields, record.msg);
}

/**
 * Events the built-in exporters log, by the exporter that owns each. Only that exporter's
 * shipped module (loaded from the built-in directory) gets its event named in the record.
 */
export const BUILTIN_EXPORTER_EVENTS: Readonly<Record<string, string>> = { oom_kill: 'oom', process_exit: 'process' };

/** A log record's fields and message. */
export interface LogRecord {
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

/**
 * The record of one exporter log line: `exporter`, the exporter's own fields (a JSON-object
 * message) under `exporter_fields`, and `event` only for a built-in exporter's own catalogued
 * event. The message is its `msg` field, else its event name, else the line itself.
 */
export function exporterLogRecord(exporter: string, msg: string, exporterFields: Record<string, unknown> | undefined, builtin: boolean): LogRecord {
  if (!exporterFields) return { fields: { exporter }, msg };
  const claimed = exporterFields.event;
  const own = builtin && typeof claimed === 'string' && Object.hasOwn(BUILTIN_EXPORTER_EVENTS, claimed) && BUILTIN_EXPORTER_EVENTS[claimed] === exporter;
  const fields: Record<string, unknown> = own ? { exporter, event: claimed, exporter_fields: exporterFields } : { exporter, exporter_fields: exporterFields };
  const text = typeof exporterFields.msg === 'string' ? exporterFields.msg : typeof claimed === 'string' ? claimed : msg;
  return { fields, msg: text };
}

/** The exporter runtime's log hooks (ExporterHost.log and .quarantined) onto the collector's logger. */
export function exporterLogHooks(log: Logger): {
  log(exporter: string, level: number, msg: string, fields?: Record<string, unknown>, builtin?: boolean): void;
  quarantined(q: QuarantineEvent): void;
} {
  return {
    log(exporter, level, msg, fields, builtin = false) {
      const record = exporterLogRecord(exporter, msg, fields, builtin);
      const fn = level >= 3 ? 'error' : level === 2 ? 'warn' : level === 1 ? 'info' : 'debug';
      log[fn](record.fields, record.msg);
    },
    quarantined: (q) => logExporterQuarantine(log, q),
  };
}
