// What every call passes before its handler runs, so that an unauthenticated or oversized
// request costs the collector nothing: the token is checked on the call's headers, before a byte
// of its body is read (grpc-js reads no body until the handler asks for it), and each method has
// its own request size, checked before the message is decoded.
import {
  Metadata, ServerInterceptingCall, status as GrpcStatus, type ServerInterceptor, type ServiceDefinition,
} from '@grpc/grpc-js';
import { statusName, type ApiError } from './status-codes.js';

/** A module to load, with its name and signature around it. */
export const MAX_LOAD_EXPORTER_BYTES = (64 << 20) + (64 << 10);
/** Every other request is a few names and numbers. */
export const MAX_REQUEST_BYTES = 64 << 10;

const REQUEST_LIMITS: Readonly<Record<string, number>> = { LoadExporter: MAX_LOAD_EXPORTER_BYTES };

/** What a request's deserializer gives instead of a message it refused; the guard answers with it. */
class RefusedRequest {
  constructor(readonly error: ApiError) {}
}

/**
 * The service with each method's request size checked, and decoding failures caught, in its
 * deserializer: a refused request reaches the guard as a RefusedRequest, never a handler.
 */
export function withRequestLimits(service: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(Object.entries(service).map(([name, method]) => {
    const limit = REQUEST_LIMITS[name] ?? MAX_REQUEST_BYTES;
    const requestDeserialize = (bytes: Buffer): unknown => {
      if (bytes.length > limit) {
        return new RefusedRequest({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: `the ${name} request is ${bytes.length} bytes, more than the limit of ${limit}` });
      }
      try {
        return method.requestDeserialize(bytes);
      } catch (err) {
        return new RefusedRequest({ code: GrpcStatus.INVALID_ARGUMENT, details: `the ${name} request is not a valid message: ${(err as Error).message}` });
      }
    };
    return [name, { ...method, requestDeserialize }];
  })) as ServiceDefinition;
}

/** The method name the request counter uses: `GetStatus`, `Health.Check`. */
export function methodLabel(path: string): string {
  const [, service = '', method = path] = /^\/([^/]*)\/(.*)$/.exec(path) ?? [];
  return service === 'grpc.health.v1.Health' ? `Health.${method}` : method;
}

export interface GuardOptions {
  /** undefined: allowed; otherwise the status to refuse with, before the body is read. */
  authorize(metadata: Metadata): ApiError | undefined;
  count(method: string, code: string): void;
}

/** The server interceptor that refuses a call on its headers (auth) or its raw message (size, encoding). */
export function requestGuard(opts: GuardOptions): ServerInterceptor {
  return (descriptor, call) => {
    const method = methodLabel(descriptor.path);
    const refuse = (e: ApiError) => {
      opts.count(method, statusName(e.code));
      call.sendStatus({ code: e.code, details: e.details, metadata: new Metadata() });
    };
    return new ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (metadata, pass) => {
          const denied = opts.authorize(metadata);
          // Not passing the metadata on means the handler never starts reading the body.
          if (denied) refuse(denied);
          else pass(metadata);
        },
        onReceiveMessage: (message, pass) => {
          if (message instanceof RefusedRequest) refuse(message.error);
          else pass(message);
        },
      }),
    });
  };
}
