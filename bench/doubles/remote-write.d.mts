// Types of remote-write.mjs for the TypeScript tests that import it.
import type { IncomingHttpHeaders } from 'node:http';

export interface TimeSeries {
  labels: { name: string; value: string }[];
  samples: { value: number; timestamp: number }[];
}

export interface Received {
  headers: IncomingHttpHeaders;
  at: number;
  timeseries: TimeSeries[];
}

export type Answer = { status: number; headers?: Record<string, string> };

export interface RemoteWriteReceiver {
  url: string;
  /** Every request, decoded, in arrival order (when kept). */
  received: Received[];
  /** Requests and samples by the status code they were answered with. */
  counts: { requests: Record<number, number>; samples: Record<number, number> };
  close(): Promise<void>;
}

export declare function decodeWriteRequest(body: Buffer): TimeSeries[];
/** Answers request number n (from 1) as `answer(n)` says (default 200). */
export declare function startRemoteWriteReceiver(answer?: (n: number) => Answer, opts?: { keep?: boolean }): Promise<RemoteWriteReceiver>;
