// Types of loki.mjs for the TypeScript tests that import it.
import type { IncomingMessage } from 'node:http';

export interface LokiEntry {
  labels: Record<string, string>;
  /** Nanoseconds since the epoch, as sent. */
  ts: bigint;
  line: string;
  metadata?: Record<string, string>;
  /** The request's Content-Type: which encoding carried it. */
  contentType: string;
}

export interface LokiRequest { headers: IncomingMessage['headers']; entries: number; status: number; error?: string }

/** ok: decode and answer 204; hang: accept the request and never answer; status: answer with that code. */
export type LokiMode = { kind: 'ok' } | { kind: 'hang' } | { kind: 'status'; status: number; body?: string };

export interface LokiReceiver {
  url: string;
  port: number;
  entries: LokiEntry[];
  requests: LokiRequest[];
  mode: LokiMode;
  /** Parsed JSON lines of the entries whose stream has label `event` = `event`. */
  events(event: string): { labels: Record<string, string>; fields: Record<string, unknown>; ts: bigint }[];
  /** Stops listening and destroys open connections: the port then refuses connections. */
  close(): Promise<void>;
}

export declare function decodeJson(body: Buffer, contentType: string): LokiEntry[];
export declare function decodeProtobuf(body: Buffer, contentType: string): LokiEntry[];
/** Listens on 127.0.0.1:`port` (0: any free port). */
export declare function startLokiReceiver(port?: number): Promise<LokiReceiver>;
