// Every handler goes through these wrappers: the request counter, and BpfwasmError → gRPC status
// through the one table (status-codes.ts). The token and request size are checked before them (guard.ts).
import {
  status as GrpcStatus, type ServerErrorResponse, type ServerUnaryCall, type ServerWritableStream,
  type handleServerStreamingCall, type handleUnaryCall,
} from '@grpc/grpc-js';
import { apiError, statusName, toApiError, type ApiError } from './status-codes.js';

export interface RpcContext {
  count(method: string, code: string): void;
}

export function serviceError(e: ApiError): ServerErrorResponse {
  return Object.assign(new Error(e.details), { code: e.code, details: e.details });
}

export function unary<Req, Res>(
  ctx: RpcContext, method: string, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    run(() => fn(call.request, call)).then(
      (res) => { ctx.count(method, 'OK'); callback(null, res); },
      (err: unknown) => {
        const e = toApiError(err);
        ctx.count(method, statusName(e.code));
        callback(serviceError(e));
      },
    );
  };
}

/** `fn` writes replies and resolves when the stream is complete (or the client went away). */
export function serverStream<Req, Res>(
  ctx: RpcContext, method: string, fn: (req: Req, call: ServerWritableStream<Req, Res>) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    run(() => fn(call.request, call)).then(
      () => {
        ctx.count(method, call.cancelled ? 'CANCELLED' : 'OK');
        if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        const e = call.cancelled ? apiError(GrpcStatus.CANCELLED, 'the client cancelled') : toApiError(err);
        ctx.count(method, statusName(e.code));
        if (!call.cancelled) call.emit('error', serviceError(e));
      },
    );
  };
}

/** A handler that throws before its first await still fails through the status table. */
function run<T>(fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}
