// Pushes the series store to a remote write 1.0 receiver (Mimir, Thanos Receive,
// VictoriaMetrics, Prometheus): one snapshot per interval into a bounded queue, sent in
// order with one request in flight. Every sample ends up counted as sent or dropped.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { BpfwasmError } from '../errors.js';
import { encodeWriteRequests, Snapshotter, type EncodedRequest } from './remote-write-encode.js';
import { backoffMs, outcomeOf, parseRetryAfter } from './remote-write-retry.js';
import { Meter, type Counter, type CounterSeries, type GaugeSeries } from './meter.js';
import type { SeriesStore } from './store.js';

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export type DropReason = 'queue_full' | 'rejected' | 'shutdown';

export interface RemoteWriterOptions {
  url: string;
  intervalMs: number;
  timeoutMs: number;
  /** Requests waiting to be sent (the one in flight not included) before the oldest is dropped. */
  maxQueuedRequests: number;
  maxSamplesPerRequest: number;
  headers: Readonly<Record<string, string>>;
  /** Sent as `Authorization: Bearer …` when not empty. */
  bearerToken: string;
  /** Added to every series that lacks the label. */
  externalLabels: Readonly<Record<string, string>>;
  /** Brings the store up to date before each snapshot (the collector's refresh). */
  refresh: () => Promise<void>;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long `stop()` keeps sending what is queued before dropping the rest. */
  shutdownGraceMs?: number;
}

export function remoteWriterOptions(config: Config, refresh: () => Promise<void>): RemoteWriterOptions {
  const rw = config.remoteWrite;
  return {
    url: rw.url,
    intervalMs: rw.intervalSeconds * 1000,
    timeoutMs: rw.timeoutSeconds * 1000,
    maxQueuedRequests: rw.maxQueuedRequests,
    maxSamplesPerRequest: rw.maxSamplesPerRequest,
    headers: rw.headers,
    bearerToken: rw.bearerToken,
    externalLabels: config.federate.externalLabels,
    refresh,
  };
}

/** The result of one POST: an HTTP status, or a network error or timeout. */
type Attempt = { status: number; retryAfterMs: number | undefined; text: string } | { error: string };

export class RemoteWriter {
  private readonly queue: EncodedRequest[] = [];
  private readonly headers: Headers;
  private readonly abort = new AbortController();
  /** The receiver's host, for logs (the URL itself may carry credentials). */
  private readonly receiver: string;
  private readonly snapshotter: Snapshotter;
  private timer: NodeJS.Timeout | undefined;
  private collecting: Promise<number> | undefined;
  private sending: Promise<void> | undefined;
  private stopped = false;
  private warnedFull = false;
  /** Samples queued or in flight: queued_total = sent + dropped + pending at every moment. */
  private pendingSamples = 0;
  private readonly metrics: {
    queuedTotal: CounterSeries;
    pending: GaugeSeries;
    sent: CounterSeries;
    dropped: Record<DropReason, CounterSeries>;
    requests: Counter;
    retries: CounterSeries;
    queued: GaugeSeries;
    lastSuccess: GaugeSeries;
  };

  constructor(store: SeriesStore, private readonly opts: RemoteWriterOptions, private readonly log: Logger) {
    const url = new URL(opts.url);
    // fetch refuses such URLs on every request; better to say so once, at start.
    if (url.username || url.password) {
      throw new BpfwasmError('CONFIG_INVALID', 'config: remoteWrite.url must not carry credentials; use remoteWrite.bearerToken or remoteWrite.headers.Authorization');
    }
    this.receiver = url.host;
    const m = new Meter(store);
    const dropped = m.counter('bpfwasm_remote_write_samples_dropped_total',
      'Samples never delivered: queue_full (oldest request dropped), rejected (4xx other than 429), shutdown', ['reason']);
    this.metrics = {
      queuedTotal: m.counter('bpfwasm_remote_write_samples_queued_total',
        'Samples taken into the send queue, one snapshot per interval: always sent + dropped + pending').series(),
      pending: m.gauge('bpfwasm_remote_write_samples_pending', 'Samples queued or in flight, not yet sent or dropped').series(),
      sent: m.counter('bpfwasm_remote_write_samples_total', 'Samples the remote write receiver accepted').series(),
      dropped: {
        queue_full: dropped.series('queue_full'),
        rejected: dropped.series('rejected'),
        shutdown: dropped.series('shutdown'),
      },
      requests: m.counter('bpfwasm_remote_write_requests_total',
        'Remote write attempts by HTTP status code, or "error" for network errors and timeouts', ['code']),
      retries: m.counter('bpfwasm_remote_write_retries_total', 'Remote write attempts that will be retried (5xx, 429, errors)').series(),
      queued: m.gauge('bpfwasm_remote_write_queue_requests', 'Remote write requests waiting to be sent, the one in flight not included').series(),
      lastSuccess: m.gauge('bpfwasm_remote_write_last_success_timestamp_seconds',
        'Unix time of the last request the receiver accepted (0: none yet)').series(),
    };
    this.snapshotter = new Snapshotter(store, opts.externalLabels);
    // Config headers first, so they can add to the protocol's headers but not change them.
    this.headers = new Headers(opts.headers);
    if (opts.bearerToken) this.headers.set('Authorization', `Bearer ${opts.bearerToken}`);
    this.headers.set('Content-Encoding', 'snappy');
    this.headers.set('Content-Type', 'application/x-protobuf');
    this.headers.set('User-Agent', `bpfwasm/${VERSION}`);
    this.headers.set('X-Prometheus-Remote-Write-Version', '0.1.0');
  }

  start(): void {
    if (this.stopped || this.timer) return;
    this.timer = setInterval(() => void this.collect(), this.opts.intervalMs);
    this.timer.unref(); // the HTTP server, not the writer, keeps the process alive
  }

  /** Takes a snapshot now and queues it; resolves with the samples queued. Joins one in progress. */
  collect(): Promise<number> {
    this.collecting ??= this.snapshot().finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  /** Stops snapshots, sends a last one and what is queued within the grace period, drops the rest. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.collect(); // else the increments since the last interval would never leave the node
    const grace = new AbortController();
    await Promise.race([this.drained(), sleep(this.opts.shutdownGraceMs ?? 5000, undefined, { signal: grace.signal }).catch(() => {})]);
    grace.abort();
    this.abort.abort();
    await this.drained();
    const left = this.queue.splice(0).reduce((n, r) => n + r.samples, 0);
    this.metrics.queued.set(0);
    if (left > 0) {
      this.settle(left);
      this.metrics.dropped.shutdown.inc(left);
      this.log.warn({ samples: left }, 'remote write: samples still queued at shutdown were dropped');
    }
  }

  private async snapshot(): Promise<number> {
    try {
      await this.opts.refresh();
    } catch (err) {
      this.log.warn({ err }, 'remote write: refresh failed; sending the values as they are');
    }
    let samples = 0;
    for (const request of encodeWriteRequests(this.snapshotter.take(), Date.now(), this.opts.maxSamplesPerRequest)) {
      this.enqueue(request);
      samples += request.samples;
    }
    this.kick();
    return samples;
  }

  private enqueue(request: EncodedRequest): void {
    if (this.queue.length >= this.opts.maxQueuedRequests) {
      const oldest = this.queue.shift()!.samples;
      this.settle(oldest);
      this.metrics.dropped.queue_full.inc(oldest);
      if (!this.warnedFull) this.log.warn({ receiver: this.receiver }, 'remote write: queue full, dropping the oldest requests');
      this.warnedFull = true;
    }
    this.queue.push(request);
    this.metrics.queued.set(this.queue.length);
    this.metrics.queuedTotal.inc(request.samples);
    this.pendingSamples += request.samples;
    this.metrics.pending.set(this.pendingSamples);
  }

  /** `samples` leave the queue for good, sent or dropped (the caller counts which). */
  private settle(samples: number): void {
    this.pendingSamples -= samples;
    this.metrics.pending.set(this.pendingSamples);
  }

  /** Starts the sender loop unless it runs; it restarts itself if a request arrived as it ended. */
  private kick(): void {
    if (this.sending || this.abort.signal.aborted) return;
    this.sending = this.sendQueued().finally(() => {
      this.sending = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drained(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async sendQueued(): Promise<void> {
    for (let request = this.queue.shift(); request; request = this.queue.shift()) {
      this.metrics.queued.set(this.queue.length);
      if (!(await this.deliver(request))) {
        this.queue.unshift(request); // interrupted by stop(), which counts it
        return;
      }
    }
  }

  /** Sends one request until it is accepted or rejected (true), or stop() interrupts (false). */
  private async deliver(request: EncodedRequest): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const result = await this.post(request.body);
      if ('error' in result && this.abort.signal.aborted) return false;
      const code = 'status' in result ? String(result.status) : 'error';
      this.metrics.requests.inc([code]);
      const outcome = 'status' in result ? outcomeOf(result.status) : 'retry';
      if (outcome === 'sent') {
        this.settle(request.samples);
        this.metrics.sent.inc(request.samples);
        this.metrics.lastSuccess.set(Date.now() / 1000);
        if (attempt > 0) this.log.info({ attempts: attempt + 1 }, 'remote write: delivered after retries');
        this.warnedFull = false;
        return true;
      }
      if (outcome === 'reject') {
        this.settle(request.samples);
        this.metrics.dropped.rejected.inc(request.samples);
        this.log.warn({ result, samples: request.samples }, 'remote write: receiver rejected a request; its samples are dropped');
        return true;
      }
      if (attempt === 0) this.log.warn({ receiver: this.receiver, result }, 'remote write: request failed; retrying with backoff');
      this.metrics.retries.inc(1);
      const retryAfterMs = 'status' in result ? result.retryAfterMs : undefined;
      const delay = retryAfterMs ?? backoffMs(attempt, this.opts.minBackoffMs ?? 100, this.opts.maxBackoffMs ?? 30_000);
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        return false;
      }
    }
  }

  private async post(body: Buffer): Promise<Attempt> {
    try {
      const res = await fetch(this.opts.url, {
        method: 'POST',
        headers: this.headers,
        body: body as Uint8Array<ArrayBuffer>, // snappy's buffers are never shared memory
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.opts.timeoutMs)]),
      });
      // Read the body in full so the connection is reused; receivers explain rejections in it.
      const text = (await res.text()).slice(0, 512);
      const retryAfterMs = res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get('retry-after'), Date.now()) : undefined;
      return { status: res.status, retryAfterMs, text };
    } catch (err) {
      const { message, cause } = err as Error & { cause?: Error };
      return { error: cause ? `${message}: ${cause.message}` : message };
    }
  }
}
