// The API's request bytes are network input: any bytes sent to any method of a real server
// (on a unix socket) get a gRPC status back, never a crash, and the server keeps serving.
import { Client, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiProto } from '../../src/api/proto.js';
import { ApiServer } from '../../src/api/server.js';
import { defaultConfig } from '../../src/config.js';
import { SeriesStore } from '../../src/metrics/store.js';
import { fakeCollector, FakeManager, profiling } from '../support/api-fakes.js';
import { rawCall } from '../support/raw-grpc.js';
import { fuzzParameters, fuzzTimeout } from './settings.js';

const METHODS = [...Object.values(apiProto().collector), ...Object.values(apiProto().health)]
  .map((m) => ({ path: m.path, stream: m.responseStream }));

/** Protobuf-shaped bytes: fields with any number and wire type, lengths that may lie. */
const protobufish = fc.array(fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 7 })).map(([field, wire]) => [(field << 3) | wire]),
  fc.integer({ min: 0, max: 2 ** 31 }).map((n) => {
    const out: number[] = [];
    for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128);
    return [...out, n];
  }),
  fc.uint8Array({ maxLength: 12 }).map((b) => [...b]),
  fc.constant([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
), { maxLength: 12 }).map((parts) => Buffer.from(parts.flat()));

describe('API messages fuzz', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-api-fuzz-'));
  const socket = join(dir, 'api.sock');
  const store = new SeriesStore({ maxSeriesPerOwner: 10_000, maxLabelValueBytes: 1024 });
  let server: ApiServer;
  let client: Client;

  beforeAll(async () => {
    const collector = fakeCollector(store);
    collector.setReady(true);
    server = new ApiServer({
      config: { ...defaultConfig().api, socket, streamQueueEvents: 8 }, collector, profiling: profiling(), exporters: new FakeManager(), log: pino({ level: 'silent' }),
    });
    await server.start();
    client = new Client(`unix:${socket}`, credentials.createInsecure());
  });

  afterAll(async () => {
    client.close();
    await server.stop();
  });

  it('any bytes to any method: a status, and the server goes on serving', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...METHODS), fc.oneof(protobufish, fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b))),
      async (method, bytes) => {
        // A stream that accepted its request (StreamEvents waits for events) ends at its deadline.
        const res = await rawCall(client, method.path, bytes, { stream: method.stream, deadlineMs: method.stream ? 300 : 5000 });
        expect(res.code).toBeGreaterThanOrEqual(GrpcStatus.OK);
        expect(res.code).toBeLessThanOrEqual(GrpcStatus.UNAUTHENTICATED);
        // Internal errors are bugs: every refusal has its own status.
        expect(res.code, `${method.path} ${bytes.toString('hex')}: ${res.details}`).not.toBe(GrpcStatus.INTERNAL);
      }), fuzzParameters(400, 10));
    const health = await rawCall(client, '/grpc.health.v1.Health/Check', Buffer.alloc(0));
    expect(health.code).toBe(GrpcStatus.OK);
  }, fuzzTimeout(10));
});
