// The error catalogue: every failure the collector reports has a stable code, a message
// and, where it can reach an HTTP client, a status.
export const ERRORS = {
  CONFIG_INVALID: { status: 500, summary: 'the configuration is invalid' },
  CONFIG_UNREADABLE: { status: 500, summary: 'the configuration file cannot be read' },
  METRIC_INVALID: { status: 500, summary: 'an exporter declared an invalid metric' },
  METRIC_CONFLICT: { status: 500, summary: 'two declarations of one metric disagree, or a metric would be exposed under a name another one (or the collector) holds' },
  SERIES_INVALID: { status: 500, summary: 'a series was requested with invalid label values' },
  EXPORTER_LOAD: { status: 400, summary: 'an exporter module cannot be loaded' },
  EXPORTER_ABI: { status: 400, summary: 'an exporter module does not implement the ABI' },
  EXPORTER_INIT: { status: 400, summary: 'an exporter failed in its init entry point' },
  EXPORTER_BUDGET: { status: 400, summary: 'an exporter module declares more memory, tables, globals or segments than exporters.maxMemoryPages allows' },
  EXPORTER_UNSIGNED: { status: 400, summary: 'an exporter module has no signature and signatures are required' },
  EXPORTER_SIGNATURE_BAD: { status: 400, summary: 'an exporter module does not match its signature, or the signature is malformed' },
  EXPORTER_KEY_UNKNOWN: { status: 400, summary: 'an exporter module is signed by a key that is not trusted' },
  EXPORTER_NOT_FOUND: { status: 404, summary: 'no exporter of that name is loaded' },
  EXPORTER_NO_SHADOW: { status: 409, summary: 'the exporter has no shadow candidate to promote or abort' },
  EXPORTER_BUSY: { status: 409, summary: 'another load, swap or rollout of that exporter is in progress' },
  OCI_FAILED: { status: 502, summary: 'an exporter artifact cannot be pulled from or pushed to an OCI registry (unreachable, refused, too large, or not what it claims)' },
  EXPORTER_NAME_INVALID: { status: 400, summary: 'an exporter name must match [a-z0-9_-]{1,64} and not be one the collector keeps its own metrics under (collector, runtime)' },
  HELPER_MISSING: { status: 500, summary: 'the eBPF helper binary is missing' },
  NOT_READY: { status: 503, summary: 'the collector is not ready' },
  SELECTOR_INVALID: { status: 400, summary: 'a /federate match[] series selector does not parse' },
  SELECTOR_TOO_COSTLY: { status: 422, summary: 'the /federate match[] selectors are past a size or regex cost limit' },
  SELECTOR_TIMEOUT: { status: 503, summary: 'matching the /federate selectors took longer than the time budget of a request' },
  REQUEST_INVALID: { status: 400, summary: 'an API request has an invalid or unknown parameter' },
  LISTEN_FAILED: { status: 500, summary: 'the HTTP server cannot listen on listen.host and listen.port' },
  API_UNAVAILABLE: { status: 500, summary: 'the gRPC API cannot listen (socket in use, TLS files or token unreadable)' },
  PROFILE_INVALID: { status: 400, summary: 'a profile request has a parameter out of range' },
  PROFILE_NO_PROCESS: { status: 404, summary: 'the process to profile does not exist' },
  PROFILE_NO_CGROUP: { status: 404, summary: 'the cgroup to profile does not exist' },
  PROFILE_NOT_FOUND: { status: 404, summary: 'the stored profile is unknown or was evicted' },
  PROFILER_BUSY: { status: 429, summary: 'the maximum number of profiles is already running' },
  PROFILE_ABORTED: { status: 499, summary: 'the client went away, so sampling was stopped' },
  PROFILE_INTERRUPTED: { status: 503, summary: 'the collector is shutting down, so sampling was stopped' },
  PROFILE_FAILED: { status: 500, summary: 'the helper failed to take a profile' },
  RECORDING_INVALID: { status: 400, summary: 'an event recording is malformed, cut short, or of another format or event schema version' },
  PROFILE_HTTP_OFF: { status: 404, summary: 'profiles over HTTP are turned off (http.profile: off); the gRPC API still serves them' },
  PROFILE_NOT_LOCAL: { status: 403, summary: 'profiles over HTTP are served only to loopback clients (http.profile: local)' },
  PROFILE_UNAUTHORIZED: { status: 401, summary: 'profiles over HTTP need the bearer token of http.profileTokenFile (http.profile: token)' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class BpfwasmError extends Error {
  readonly statusCode: number;
  /** For 429/503: when the client may try again (sent as Retry-After). */
  readonly retryAfterSeconds: number | undefined;

  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options);
    this.name = 'BpfwasmError';
    this.statusCode = ERRORS[code].status;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}
