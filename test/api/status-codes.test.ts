// BpfwasmError codes reach gRPC clients as the status the table says, with the message intact.
import { status } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GRPC_STATUS, statusName, toApiError } from '../../src/api/status-codes.js';
import { BpfwasmError, ERRORS } from '../../src/errors.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';

describe('BpfwasmError → gRPC status', () => {
  it('maps every error code, and the ones clients act on to the status they expect', () => {
    expect(Object.keys(GRPC_STATUS).sort()).toEqual(Object.keys(ERRORS).sort());
    expect(GRPC_STATUS.EXPORTER_NOT_FOUND).toBe(status.NOT_FOUND);
    expect(GRPC_STATUS.EXPORTER_NO_SHADOW).toBe(status.FAILED_PRECONDITION);
    expect(GRPC_STATUS.EXPORTER_NAME_INVALID).toBe(status.INVALID_ARGUMENT);
    expect(GRPC_STATUS.PROFILE_INVALID).toBe(status.INVALID_ARGUMENT);
    expect(GRPC_STATUS.PROFILER_BUSY).toBe(status.RESOURCE_EXHAUSTED);
    expect(GRPC_STATUS.NOT_READY).toBe(status.UNAVAILABLE);
    expect(GRPC_STATUS.PROFILE_NO_PROCESS).toBe(status.NOT_FOUND);
    expect(GRPC_STATUS.EXPORTER_SIGNATURE_BAD).toBe(status.PERMISSION_DENIED);
  });

  it('keeps the message, and turns a foreign error into INTERNAL with its message only', () => {
    expect(toApiError(new BpfwasmError('EXPORTER_NOT_FOUND', 'no exporter "x" is loaded'))).toEqual({
      code: status.NOT_FOUND, details: 'no exporter "x" is loaded',
    });
    expect(toApiError(new TypeError('boom'))).toEqual({ code: status.INTERNAL, details: 'boom' });
    expect(toApiError({ code: status.UNIMPLEMENTED, details: 'not here' })).toEqual({ code: status.UNIMPLEMENTED, details: 'not here' });
    expect(statusName(status.RESOURCE_EXHAUSTED)).toBe('RESOURCE_EXHAUSTED');
  });

  it('the table lives in one place: no other API module names a gRPC status for an error code', () => {
    const server = readFileSync(join(PACKAGE_ROOT, 'src/api/rpc.ts'), 'utf8');
    expect(server).not.toMatch(/EXPORTER_|PROFILE_/);
  });
});
