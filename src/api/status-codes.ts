// The one table from the collector's error codes to gRPC status codes; every RPC fails through it.
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { BpfwasmError, type ErrorCode } from '../errors.js';

export const GRPC_STATUS: Record<ErrorCode, GrpcStatus> = {
  CONFIG_INVALID: GrpcStatus.INTERNAL,
  CONFIG_UNREADABLE: GrpcStatus.INTERNAL,
  METRIC_INVALID: GrpcStatus.INVALID_ARGUMENT,
  METRIC_CONFLICT: GrpcStatus.FAILED_PRECONDITION,
  SERIES_INVALID: GrpcStatus.INVALID_ARGUMENT,
  EXPORTER_LOAD: GrpcStatus.INVALID_ARGUMENT,
  EXPORTER_ABI: GrpcStatus.INVALID_ARGUMENT,
  EXPORTER_INIT: GrpcStatus.INVALID_ARGUMENT,
  EXPORTER_BUDGET: GrpcStatus.INVALID_ARGUMENT,
  EXPORTER_UNSIGNED: GrpcStatus.PERMISSION_DENIED,
  EXPORTER_SIGNATURE_BAD: GrpcStatus.PERMISSION_DENIED,
  EXPORTER_KEY_UNKNOWN: GrpcStatus.PERMISSION_DENIED,
  EXPORTER_NOT_FOUND: GrpcStatus.NOT_FOUND,
  EXPORTER_NO_SHADOW: GrpcStatus.FAILED_PRECONDITION,
  EXPORTER_BUSY: GrpcStatus.ABORTED,
  OCI_FAILED: GrpcStatus.UNAVAILABLE,
  EXPORTER_NAME_INVALID: GrpcStatus.INVALID_ARGUMENT,
  HELPER_MISSING: GrpcStatus.UNAVAILABLE,
  NOT_READY: GrpcStatus.UNAVAILABLE,
  SELECTOR_INVALID: GrpcStatus.INVALID_ARGUMENT,
  SELECTOR_TOO_COSTLY: GrpcStatus.RESOURCE_EXHAUSTED,
  SELECTOR_TIMEOUT: GrpcStatus.UNAVAILABLE,
  REQUEST_INVALID: GrpcStatus.INVALID_ARGUMENT,
  LISTEN_FAILED: GrpcStatus.UNAVAILABLE,
  API_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  PROFILE_INVALID: GrpcStatus.INVALID_ARGUMENT,
  PROFILE_NO_PROCESS: GrpcStatus.NOT_FOUND,
  PROFILE_NO_CGROUP: GrpcStatus.NOT_FOUND,
  PROFILE_NOT_FOUND: GrpcStatus.NOT_FOUND,
  PROFILER_BUSY: GrpcStatus.RESOURCE_EXHAUSTED,
  PROFILE_ABORTED: GrpcStatus.CANCELLED,
  PROFILE_INTERRUPTED: GrpcStatus.UNAVAILABLE,
  PROFILE_FAILED: GrpcStatus.INTERNAL,
  RECORDING_INVALID: GrpcStatus.INVALID_ARGUMENT,
  // HTTP-only refusals: the gRPC API has its own access control (socket mode, TLS and token).
  PROFILE_HTTP_OFF: GrpcStatus.NOT_FOUND,
  PROFILE_NOT_LOCAL: GrpcStatus.PERMISSION_DENIED,
  PROFILE_UNAUTHORIZED: GrpcStatus.UNAUTHENTICATED,
};

/** A status a handler can fail with: code, message, and the BpfwasmError code as metadata-free text. */
export interface ApiError {
  code: GrpcStatus;
  details: string;
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof BpfwasmError) return { code: GRPC_STATUS[err.code], details: err.message };
  if (isApiError(err)) return err;
  // An unexpected failure still reaches the client as one line, not a stack.
  return { code: GrpcStatus.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

export function isApiError(err: unknown): err is ApiError {
  return typeof err === 'object' && err !== null && typeof (err as ApiError).code === 'number' && typeof (err as ApiError).details === 'string';
}

export function apiError(code: GrpcStatus, details: string): ApiError {
  return { code, details };
}

/** The status name the request counter uses as its `code` label ("OK", "NOT_FOUND"...). */
export function statusName(code: GrpcStatus): string {
  return GrpcStatus[code] ?? String(code);
}

export type { ServiceError };
