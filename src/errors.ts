// The error catalogue: every failure the collector reports has a stable code, a message
// and, where it can reach an HTTP client, a status.
export const ERRORS = {
  CONFIG_INVALID: { status: 500, summary: 'the configuration is invalid' },
  CONFIG_UNREADABLE: { status: 500, summary: 'the configuration file cannot be read' },
  METRIC_INVALID: { status: 500, summary: 'an exporter declared an invalid metric' },
  METRIC_CONFLICT: { status: 500, summary: 'two declarations of one metric disagree' },
  SERIES_INVALID: { status: 500, summary: 'a series was requested with invalid label values' },
  EXPORTER_LOAD: { status: 400, summary: 'an exporter module cannot be loaded' },
  EXPORTER_ABI: { status: 400, summary: 'an exporter module does not implement the ABI' },
  EXPORTER_INIT: { status: 400, summary: 'an exporter failed in its init entry point' },
  HELPER_MISSING: { status: 500, summary: 'the eBPF helper binary is missing' },
  NOT_READY: { status: 503, summary: 'the collector is not ready' },
  SELECTOR_INVALID: { status: 400, summary: 'a /federate match[] series selector does not parse' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class BpfwasmError extends Error {
  readonly statusCode: number;

  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BpfwasmError';
    this.statusCode = ERRORS[code].status;
  }
}
