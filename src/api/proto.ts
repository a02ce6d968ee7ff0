// Loads the API's .proto files once with proto-loader, for the client (the server's services:
// service-definitions.ts). keepCase: messages are plain objects with the proto's snake_case field
// names; uint64 travel as decimal strings (the server may send numbers); enums as their names;
// oneofs tell which member is set.
import { loadSync, type MessageTypeDefinition, type PackageDefinition } from '@grpc/proto-loader';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { LOADER_OPTIONS, PROTO_FILES } from './service-definitions.js';

export { COLLECTOR_SERVICE, LOADER_OPTIONS, PROTO_DIR } from './service-definitions.js';

export interface ApiProto {
  collector: ServiceDefinition;
  health: ServiceDefinition;
  CollectorClient: ServiceClientConstructor;
  HealthClient: ServiceClientConstructor;
  definition: PackageDefinition;
}

let loaded: ApiProto | undefined;

export function apiProto(): ApiProto {
  if (loaded) return loaded;
  const definition = loadSync(PROTO_FILES, LOADER_OPTIONS);
  const root = loadPackageDefinition(definition);
  const collector = ((root.bpfwasm as GrpcObject).v1 as GrpcObject).Collector as ServiceClientConstructor;
  const health = (((root.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject).Health as ServiceClientConstructor;
  loaded = { collector: collector.service, health: health.service, CollectorClient: collector, HealthClient: health, definition };
  return loaded;
}


const LONGS = new Set(['TYPE_UINT64', 'TYPE_INT64', 'TYPE_FIXED64', 'TYPE_SFIXED64', 'TYPE_SINT64']);

interface FieldDescriptor { name: string; type: string; typeName: string }

/**
 * A reply of `bpfwasm.v1.<typeName>` with its 64-bit integers as JSON numbers where they are
 * exact (up to 2^53) and left as decimal strings past it, so `jq '.ring_drops > 0'` compares numbers.
 */
export function exactNumbers<T>(value: T, typeName: string): T {
  const type = apiProto().definition[`bpfwasm.v1.${typeName}`] as MessageTypeDefinition<unknown, unknown> | undefined;
  if (!type || value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const f of (type.type as { field: FieldDescriptor[] }).field) {
    const v = out[f.name];
    if (v === undefined || v === null) continue;
    const one = (x: unknown): unknown => {
      if (LONGS.has(f.type) && typeof x === 'string') return Number.isSafeInteger(Number(x)) ? Number(x) : x;
      if (f.type === 'TYPE_MESSAGE') return exactNumbers(x, f.typeName.replace(/^\.?bpfwasm\.v1\./, ''));
      return x;
    };
    out[f.name] = Array.isArray(v) ? v.map(one) : one(v);
  }
  return out as T;
}

/** The reply message's name of a Collector method ("Status" for GetStatus). */
export function replyTypeName(method: string): string {
  const service = apiProto().definition['bpfwasm.v1.Collector'] as unknown as Record<string, { responseType: { type: { name: string } } } | undefined>;
  return service[method]?.responseType.type.name ?? '';
}
