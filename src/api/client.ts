// The CLI's side of the API: connects to the local socket (or TCP with TLS and a token) and
// turns every failure into one line a user can act on.
import { readFileSync } from 'node:fs';
import {
  credentials, Metadata, status as GrpcStatus, type ChannelCredentials, type Client, type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { apiProto, exactNumbers, replyTypeName } from './proto.js';
import type { ApiExporterStatus, ApiStatus } from './status.js';
import type { StreamEventsRequest, StreamEventsReply } from './services/events.js';
import type { ProfileRequestMessage } from './services/profile.js';
import type { RecordEventsReply } from './services/record.js';

export const DEFAULT_API = 'unix:/run/bpfwasm/api.sock';
export const TOKEN_ENV = 'BPFWASM_API_TOKEN';

export interface ApiTarget {
  /** unix:/path, a /path, or host:port (TLS). Default DEFAULT_API. */
  api?: string;
  /** PEM CA bundle that signed the collector's certificate (TCP). */
  ca?: string;
  /** File holding the bearer token (TCP); else $BPFWASM_API_TOKEN. */
  tokenFile?: string;
}

/** Profile replies as the client receives them (uint64 as strings). */
export type ProfileReply =
  | { item: 'progress'; progress: { phase: string; elapsed_seconds: number; total_seconds: number; id: string } }
  | { item: 'result'; result: { data: Buffer; samples: string; format: string; id: string; warnings: string[] } };
export type EventsReply = StreamEventsReply & { item: 'event' | 'lost' };
export type RecordReply = RecordEventsReply & { item: 'start' | 'batch' | 'lost' };

/** The wire form of the profile request's format enum for a renderer format. */
export const PROFILE_FORMAT_ENUM = {
  pprof: 'FORMAT_PPROF', folded: 'FORMAT_FOLDED', html: 'FORMAT_HTML', svg: 'FORMAT_SVG', json: 'FORMAT_JSON',
} as const;

/** The wire form of the profile request's group_by enum. */
export const PROFILE_GROUP_BY_ENUM = { comm: 'GROUP_BY_COMM', pid: 'GROUP_BY_PID' } as const;

type Callback<T> = (err: ServiceError | null, value?: T) => void;
type Unary<Req, Res> = (req: Req, metadata: Metadata, options: { deadline: number }, cb: Callback<Res>) => void;

const UNARY_DEADLINE_MS = 30_000;

export class ApiClient {
  readonly address: string;
  private readonly isUnix: boolean;
  private readonly collector: Client & Record<string, unknown>;
  private readonly healthClient: Client & Record<string, unknown>;

  constructor(target: ApiTarget = {}) {
    const raw = target.api ?? DEFAULT_API;
    this.isUnix = raw.startsWith('unix:') || raw.startsWith('/');
    this.address = raw.startsWith('/') ? `unix:${raw}` : raw;
    const creds = this.isUnix ? credentials.createInsecure() : tcpCredentials(target);
    const proto = apiProto();
    const options = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': 64 << 20 };
    this.collector = new proto.CollectorClient(this.address, creds, options) as unknown as Client & Record<string, unknown>;
    this.healthClient = new proto.HealthClient(this.address, creds, options) as unknown as Client & Record<string, unknown>;
  }

  status(): Promise<ApiStatus> {
    return this.unary('GetStatus', {});
  }

  async listExporters(): Promise<ApiExporterStatus[]> {
    return (await this.unary<{ exporters: ApiExporterStatus[] }>('ListExporters', {})).exporters;
  }

  loadExporter(name: string, wasm: Buffer, options: { signature?: Buffer; shadow?: boolean }): Promise<ApiExporterStatus> {
    return this.unary('LoadExporter', { name, wasm, signature: options.signature ?? Buffer.alloc(0), shadow: options.shadow ?? false });
  }

  async unloadExporter(name: string): Promise<void> {
    await this.unary('UnloadExporter', { name });
  }

  promoteExporter(name: string): Promise<ApiExporterStatus> {
    return this.unary('PromoteExporter', { name });
  }

  abortExporter(name: string): Promise<ApiExporterStatus> {
    return this.unary('AbortExporter', { name });
  }

  health(service = ''): Promise<{ status: string }> {
    return this.call(this.healthClient, 'Check', { service });
  }

  streamEvents(req: Partial<StreamEventsRequest>): ClientReadableStream<EventsReply> {
    return (this.collector.StreamEvents as (r: unknown) => ClientReadableStream<EventsReply>).call(this.collector, req);
  }

  recordEvents(req: Partial<StreamEventsRequest>): ClientReadableStream<RecordReply> {
    return (this.collector.RecordEvents as (r: unknown) => ClientReadableStream<RecordReply>).call(this.collector, req);
  }

  profile(req: Partial<ProfileRequestMessage>): ClientReadableStream<ProfileReply> {
    return (this.collector.Profile as (r: unknown) => ClientReadableStream<ProfileReply>).call(this.collector, req);
  }

  /** Ends a running profile's sampling; its Profile call then answers with what was sampled. */
  finishProfile(id: string): Promise<Record<string, never>> {
    return this.call(this.collector, 'FinishProfile', { id });
  }

  close(): void {
    this.collector.close();
    this.healthClient.close();
  }

  /** One line for a failed call: what to do when the collector is not there, else its message. */
  describe(err: unknown): Error {
    const e = err as Partial<ServiceError>;
    if (e.code === GrpcStatus.UNAVAILABLE) {
      const hint = this.isUnix ? 'is `bpfwasm run` running?' : (e.details ?? 'unavailable');
      return new Error(`cannot reach the collector at ${this.address}: ${hint}`);
    }
    if (e.code === GrpcStatus.UNAUTHENTICATED) return new Error(`the collector at ${this.address} refused the token: ${e.details}`);
    if (e.code === GrpcStatus.UNIMPLEMENTED) return new Error(`the collector at ${this.address} does not support this: ${e.details}`);
    if (typeof e.details === 'string' && e.details !== '') return new Error(e.details);
    return err instanceof Error ? err : new Error(String(err));
  }

  private async unary<Res>(method: string, req: unknown): Promise<Res> {
    const reply = await this.call<Res>(this.collector, method, req);
    return exactNumbers(reply, replyTypeName(method));
  }

  private call<Res>(client: Record<string, unknown>, method: string, req: unknown): Promise<Res> {
    return new Promise((resolve, reject) => {
      (client[method] as Unary<unknown, Res>).call(client, req, new Metadata(), { deadline: Date.now() + UNARY_DEADLINE_MS }, (err, value) => {
        if (err) reject(this.describe(err));
        else resolve(value as Res);
      });
    });
  }
}

function tcpCredentials(target: ApiTarget): ChannelCredentials {
  let token = process.env[TOKEN_ENV]?.trim();
  if (target.tokenFile) {
    try {
      token = readFileSync(target.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`cannot read --token-file ${target.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (!token) throw new Error(`the TCP API needs a token: give --token-file FILE or set ${TOKEN_ENV}`);
  let ca: Buffer | null = null;
  if (target.ca) {
    try {
      ca = readFileSync(target.ca);
    } catch (err) {
      throw new Error(`cannot read --ca ${target.ca}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const bearer = credentials.createFromMetadataGenerator((_params, cb) => {
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    cb(null, md);
  });
  return credentials.combineChannelCredentials(credentials.createSsl(ca), bearer);
}
