// The server's services, built with protobufjs alone, are proto-loader's: the same methods, paths
// and streaming, and the same bytes and objects for the same messages (uint64 as strings, enums by
// name, oneofs, defaults).
import type { ServiceDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { apiProto } from '../../src/api/proto.js';
import { apiServices } from '../../src/api/service-definitions.js';

const shape = (service: ServiceDefinition) => Object.fromEntries(Object.entries(service).map(([name, m]) =>
  [name, { path: m.path, requestStream: m.requestStream, responseStream: m.responseStream, originalName: m.originalName }]));

/** Messages of each method, requests and replies, that exercise the conversions. */
const MESSAGES: Record<string, { request: object[]; response: object[] }> = {
  StreamEvents: {
    request: [{}, { types: ['process_exec', 'tcp_connect'], pid: 7, comm: 'sh', cgroup_id: '18446744073709551615', cgroup: 'system.slice' }],
    response: [{ lost: { count: '9007199254740993' } }, { event: { type: 'process_exit', timestamp_ns: 12 } }],
  },
  Profile: {
    request: [{ pid: 1, seconds: 3, format: 'FORMAT_SVG', group_by: 'GROUP_BY_PID' }, { format: 2 }],
    response: [{}],
  },
  GetStatus: { request: [{}], response: [{}] },
  Check: { request: [{ service: 'bpfwasm.v1.Collector' }], response: [{ status: 'SERVING' }] },
};

describe('apiServices', () => {
  const ours = apiServices();
  const loader = apiProto();

  it('has proto-loader\'s methods, paths and streaming', () => {
    expect(shape(ours.collector)).toEqual(shape(loader.collector));
    expect(shape(ours.health)).toEqual(shape(loader.health));
    expect(Object.keys(ours.collector)).toContain('GetStatus');
  });

  it('converts messages as proto-loader does, both ways', () => {
    let checked = 0;
    for (const [service, theirs] of [[ours.collector, loader.collector], [ours.health, loader.health]] as const) {
      for (const [name, m] of Object.entries(service)) {
        const t = theirs[name]!;
        const cases = MESSAGES[name] ?? { request: [{}], response: [{}] };
        for (const [ser, de, tSer, tDe, values] of [
          [m.requestSerialize, m.requestDeserialize, t.requestSerialize, t.requestDeserialize, cases.request],
          [m.responseSerialize, m.responseDeserialize, t.responseSerialize, t.responseDeserialize, cases.response],
        ] as const) {
          for (const value of values) {
            const bytes = ser(value as never);
            expect(bytes, `${name} ${JSON.stringify(value)}`).toEqual(tSer(value as never));
            expect(de(bytes)).toEqual(tDe(bytes));
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(ours.collector.StreamEvents!.requestDeserialize(ours.collector.StreamEvents!.requestSerialize({ cgroup_id: '18446744073709551615' } as never)))
      .toMatchObject({ cgroup_id: '18446744073709551615', pid: 0, types: [] });
  });

  it('refuses an array for a message, as proto-loader does', () => {
    expect(() => ours.collector.GetStatus!.requestSerialize([] as never)).toThrow(/expected object with .* structure, got array instead/);
  });
});
