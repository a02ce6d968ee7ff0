// The API's protos and the services as the server serves them. Apart from proto.ts (proto-loader,
// for the client) so that `bpfwasm run` does not load proto-loader at all.
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Options } from '@grpc/proto-loader';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../package-root.js';

export const PROTO_DIR = join(PACKAGE_ROOT, 'src', 'api', 'proto');

export const PROTO_FILES = [join(PROTO_DIR, 'bpfwasm.proto'), join(PROTO_DIR, 'health.proto')];

/** keepCase: messages are plain objects with the proto's snake_case field names; uint64 travel as decimal strings. */
export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** The service name health checks ask about, besides "" (the whole server). */
export const COLLECTOR_SERVICE = 'bpfwasm.v1.Collector';

/**
 * The services as the server serves them, built from the protos with protobufjs alone (issue #17,
 * time to ready): proto-loader's package definition also makes a descriptor of every message type
 * (for reflection, which the server does not offer), ~25 ms of the main thread before /readyz.
 * Messages are converted as proto-loader converts them: fromObject and encode out; decode and
 * toObject with LOADER_OPTIONS in.
 */
export function apiServices(): { collector: ServiceDefinition; health: ServiceDefinition } {
  const root = new protobuf.Root().loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return { collector: serviceDefinition(root, COLLECTOR_SERVICE), health: serviceDefinition(root, 'grpc.health.v1.Health') };
}

function serviceDefinition(root: protobuf.Root, name: string): ServiceDefinition {
  const serialize = (type: protobuf.Type) => (value: object): Buffer => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return Buffer.from(type.encode(type.fromObject(value)).finish());
  };
  const deserialize = (type: protobuf.Type) => (bytes: Buffer): object => type.toObject(type.decode(bytes), LOADER_OPTIONS as protobuf.IConversionOptions);
  return Object.fromEntries(root.lookupService(name).methodsArray.map((m) => {
    const request = m.resolvedRequestType!;
    const response = m.resolvedResponseType!;
    return [m.name, {
      path: `/${name}/${m.name}`,
      requestStream: Boolean(m.requestStream),
      responseStream: Boolean(m.responseStream),
      requestSerialize: serialize(request),
      requestDeserialize: deserialize(request),
      responseSerialize: serialize(response),
      responseDeserialize: deserialize(response),
      originalName: m.name[0]!.toLowerCase() + m.name.slice(1),
    }];
  })) as ServiceDefinition;
}

