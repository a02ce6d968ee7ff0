// The collector's gRPC API server: bpfwasm.v1.Collector and grpc.health.v1.Health on a unix
// socket (mode 0600, no token) and, when configured, on TCP with TLS and a bearer token.
import { readFileSync } from 'node:fs';
import { Server, ServerCredentials, setLogger, status as GrpcStatus } from '@grpc/grpc-js';
import { format } from 'node:util';
import type { Logger } from 'pino';
import type { ApiConfig } from '../config.js';
import { BpfwasmError } from '../errors.js';
import type { ExporterManager } from '../exporters/host/management.js';
import type { SeriesStore } from '../metrics/store.js';
import { TokenCheck } from './auth.js';
import type { EventTap } from './event-tap.js';
import { ApiMetrics } from './metrics.js';
import { MAX_LOAD_EXPORTER_BYTES, requestGuard, withRequestLimits, type GuardOptions } from './guard.js';
import { apiServices } from './service-definitions.js';
import { serverStream, unary, type RpcContext } from './rpc.js';
import { EventStreams } from './services/events.js';
import { EventRecordings } from './services/record.js';
import { exporterHandlers } from './services/exporters.js';
import { healthHandlers } from './services/health.js';
import { profileHandlers, type ProfilingOptions } from './services/profile.js';
import { bindPrivate, prepareSocketPath, removeSocket } from './socket.js';
import { apiError } from './status-codes.js';
import { COLLECTOR_VERSION, collectStatus, type StatusSource } from './status.js';

/** What the API reads from the running collector. */
export type ApiCollector = StatusSource & {
  readonly tap: EventTap;
  readonly store: SeriesStore;
  /** Names for recordings (RecordEvents); without it they carry none. */
  readonly resolver?: { resolve(kind: number, id: bigint): string | undefined };
  readiness(): { ready: boolean };
  refresh(): Promise<void>;
};

export interface ApiServerOptions {
  config: ApiConfig;
  collector: ApiCollector;
  profiling: ProfilingOptions;
  /** Exporter management; without it the exporter RPCs answer UNIMPLEMENTED. */
  exporters?: ExporterManager;
  log: Logger;
}

const MAX_REPLY_BYTES = 64 << 20; // a rendered profile

export class ApiServer {
  private readonly servers: Server[] = [];
  private readonly streams: EventStreams;
  private readonly recordings: EventRecordings;
  /** Shared by the unix socket's server and the TCP one. */
  private readonly services = apiServices();
  readonly metrics: ApiMetrics;
  /** The TCP port actually bound (useful with port 0), once listening. */
  tcpPort: number | undefined;

  constructor(private readonly opts: ApiServerOptions) {
    // grpc-js writes its own lines to stderr ("E No address added…"); what matters of them reaches
    // the user as our errors, so they go to the log as debug records.
    const debug = (...args: unknown[]) => opts.log.debug({ source: 'grpc-js' }, format(...args));
    setLogger({ error: debug, info: debug, debug });
    this.metrics = new ApiMetrics(opts.collector.store);
    this.streams = new EventStreams({ tap: opts.collector.tap, metrics: this.metrics, queueEvents: opts.config.streamQueueEvents });
    const resolver = opts.collector.resolver;
    this.recordings = new EventRecordings({
      tap: opts.collector.tap, metrics: this.metrics, queueEvents: opts.config.streamQueueEvents,
      ...(resolver && { resolve: (kind: number, id: bigint) => resolver.resolve(kind, id) }),
      maxBatchBytes: opts.collector.config.helper.batchBytes, version: COLLECTOR_VERSION,
    });
  }

  async start(): Promise<void> {
    const { config, log } = this.opts;
    await prepareSocketPath(config.socket);
    const local = this.build(() => undefined);
    this.servers.push(local);
    await bindPrivate(config.socket, () => bind(local, `unix:${config.socket}`, ServerCredentials.createInsecure()));
    if (config.tcp.listen) {
      const token = TokenCheck.fromFile(config.tcp.tokenFile);
      const remote = this.build((md) => (token.allows(md) ? undefined : apiError(GrpcStatus.UNAUTHENTICATED, 'missing or wrong bearer token (metadata authorization: Bearer <token>)')));
      this.servers.push(remote);
      this.tcpPort = await bind(remote, config.tcp.listen, tlsCredentials(config.tcp.tlsCert, config.tcp.tlsKey));
    }
    log.info({ socket: config.socket, tcp: config.tcp.listen || undefined }, 'api listening');
  }

  async stop(): Promise<void> {
    this.streams.closeAll();
    this.recordings.closeAll();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      // Streams were ended above; anything still open after a second is cut.
      const force = setTimeout(() => s.forceShutdown(), 1000);
      s.tryShutdown(() => { clearTimeout(force); resolve(); });
    })));
    this.servers.length = 0;
    removeSocket(this.opts.config.socket);
  }

  private build(authorize: GuardOptions['authorize']): Server {
    const { collector, profiling } = this.opts;
    const ctx: RpcContext = { count: (method, code) => this.metrics.request(method, code) };
    const proto = this.services;
    const server = new Server({
      // The transport's bound is the largest request of any method; each method's is checked by the guard.
      'grpc.max_receive_message_length': MAX_LOAD_EXPORTER_BYTES,
      'grpc.max_send_message_length': MAX_REPLY_BYTES,
      interceptors: [requestGuard({ authorize, count: ctx.count })],
    });
    const exporters = exporterHandlers(this.opts.exporters);
    const profiles = profileHandlers(profiling);
    server.addService(withRequestLimits(proto.collector), {
      StreamEvents: serverStream(ctx, 'StreamEvents', this.streams.handle),
      RecordEvents: serverStream(ctx, 'RecordEvents', this.recordings.handle),
      Profile: serverStream(ctx, 'Profile', profiles.profile),
      FinishProfile: unary(ctx, 'FinishProfile', profiles.finish),
      ListExporters: unary(ctx, 'ListExporters', exporters.list),
      LoadExporter: unary(ctx, 'LoadExporter', exporters.load),
      UnloadExporter: unary(ctx, 'UnloadExporter', exporters.unload),
      PromoteExporter: unary(ctx, 'PromoteExporter', exporters.promote),
      AbortExporter: unary(ctx, 'AbortExporter', exporters.abort),
      GetStatus: unary(ctx, 'GetStatus', async () => {
        await collector.refresh();
        return collectStatus(collector, this.opts.exporters);
      }),
    });
    const health = healthHandlers(() => collector.readiness().ready);
    server.addService(withRequestLimits(proto.health), {
      Check: unary(ctx, 'Health.Check', health.check),
      Watch: serverStream(ctx, 'Health.Watch', health.watch),
    });
    return server;
  }
}

function bind(server: Server, address: string, creds: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => {
      if (err) reject(new BpfwasmError('API_UNAVAILABLE', `the API cannot listen on ${address}: ${err.message}`));
      else resolve(port);
    });
  });
}

function tlsCredentials(certPath: string, keyPath: string): ServerCredentials {
  const read = (path: string, key: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new BpfwasmError('API_UNAVAILABLE', `cannot read api.tcp.${key} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return ServerCredentials.createSsl(null, [{ cert_chain: read(certPath, 'tlsCert'), private_key: read(keyPath, 'tlsKey') }], false);
}
