// Loads the API's .proto files once, for the server and the client alike. keepCase: messages
// are plain objects with the proto's snake_case field names; uint64 travel as decimal strings
// (the server may send numbers); enums as their names; oneofs tell which member is set.
import { loadSync, type Options } from '@grpc/proto-loader';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config.js';

export const PROTO_DIR = join(PACKAGE_ROOT, 'src', 'api', 'proto');

export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export interface ApiProto {
  collector: ServiceDefinition;
  health: ServiceDefinition;
  CollectorClient: ServiceClientConstructor;
  HealthClient: ServiceClientConstructor;
}

let loaded: ApiProto | undefined;

export function apiProto(): ApiProto {
  if (loaded) return loaded;
  const definition = loadSync([join(PROTO_DIR, 'bpfwasm.proto'), join(PROTO_DIR, 'health.proto')], LOADER_OPTIONS);
  const root = loadPackageDefinition(definition);
  const collector = ((root.bpfwasm as GrpcObject).v1 as GrpcObject).Collector as ServiceClientConstructor;
  const health = (((root.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject).Health as ServiceClientConstructor;
  loaded = { collector: collector.service, health: health.service, CollectorClient: collector, HealthClient: health };
  return loaded;
}

/** The service name health checks ask about, besides "" (the whole server). */
export const COLLECTOR_SERVICE = 'bpfwasm.v1.Collector';
