// gRPC clients and process storms for the API's kernel tests.
import { spawn } from 'node:child_process';
import { connect as http2Connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_DIR } from '../../../src/api/proto.js';
import { ApiClient } from '../../../src/api/client.js';
import type { RunningCollector } from './collector.js';
import { samples, scrape, waitFor } from './collector.js';

export function apiClient(c: RunningCollector): ApiClient {
  return new ApiClient({ api: `unix:${c.apiSocket}` });
}

/** Waits until the collector counts `n` open StreamEvents calls, so nothing spawned after is missed. */
export async function waitForStreams(c: RunningCollector, n: number): Promise<void> {
  await waitFor(`${n} open event streams`, async () => ((samples(await scrape(c), 'bpfwasm_api_streams').get('') ?? -1) === n ? true : undefined));
}

/** Runs `path` `times` times from one shell loop without blocking this process's event loop. */
export function runTimesAsync(path: string, times: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sh = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${times} ]; do "${path}"; i=$((i+1)); done`], { stdio: 'ignore' });
    sh.on('error', reject);
    sh.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`running ${path} ${times} times exited ${code}`))));
  });
}

/**
 * A StreamEvents client that reads at the transport level only when asked: a raw HTTP/2 stream
 * left paused, so its flow-control window fills and the collector feels a truly slow reader
 * (grpc-js's client keeps reading into memory even while its stream is paused).
 */
export class SlowEventReader {
  private readonly session: ClientHttp2Session;
  private readonly stream: ClientHttp2Stream;
  private readonly replyType: protobuf.Type;
  private pending = Buffer.alloc(0);

  constructor(socketPath: string, request: Record<string, unknown>) {
    const root = protobuf.loadSync(join(PROTO_DIR, 'bpfwasm.proto'));
    const requestType = root.lookupType('bpfwasm.v1.StreamEventsRequest');
    this.replyType = root.lookupType('bpfwasm.v1.StreamEventsReply');
    this.session = http2Connect('http://localhost', { createConnection: () => netConnect(socketPath) });
    this.session.on('error', () => { /* closed by close() */ });
    this.stream = this.session.request({
      ':method': 'POST', ':path': '/bpfwasm.v1.Collector/StreamEvents', 'content-type': 'application/grpc', te: 'trailers',
    });
    this.stream.on('error', () => { /* closed by close() */ });
    this.stream.pause();
    const body = Buffer.from(requestType.encode(requestType.fromObject(request)).finish());
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    this.stream.end(frame); // a server-streaming call starts once the request is half-closed
  }

  /** At most one reply decoded from what has arrived; reading it lets more in. */
  readOne(): { event?: { comm: string; type: string }; lost?: { count: number | { toNumber(): number } } } | undefined {
    for (;;) {
      if (this.pending.length >= 5) {
        const len = this.pending.readUInt32BE(1);
        if (this.pending.length >= 5 + len) {
          const msg = this.pending.subarray(5, 5 + len);
          this.pending = this.pending.subarray(5 + len);
          return this.replyType.toObject(this.replyType.decode(msg), { longs: Number }) as never;
        }
      }
      const chunk = this.stream.read() as Buffer | null;
      if (!chunk) return undefined;
      this.pending = Buffer.concat([this.pending, chunk]);
    }
  }

  close(): void {
    this.stream.close();
    this.session.close();
  }
}
