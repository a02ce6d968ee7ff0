// Ships the collector's log lines to Loki's push API (POST /loki/api/v1/push, JSON) with a
// bounded buffer: write() never waits on the network, one push is in flight at most, and a
// line that cannot be kept is dropped and counted. Why not pino-loki itself:
// docs/LOGS.md.
import { Meter, type Counter, type CounterSeries, type GaugeSeries } from '../metrics/meter.js';
import type { SeriesStore } from '../metrics/store.js';

export const PUSH_PATH = 'loki/api/v1/push';

/** Why a line never reached Loki. */
export type DropReason = 'buffer_full' | 'rejected' | 'shutdown';
const DROP_REASONS: readonly DropReason[] = ['buffer_full', 'rejected', 'shutdown'];

export interface LokiShipperOptions {
  /** Loki's base URL; PUSH_PATH is appended unless the URL already ends with it. */
  url: string;
  /** Labels of every stream (job, node and the configured ones). */
  labels: Record<string, string>;
  batchIntervalMs: number;
  maxBufferedLines: number;
  timeoutMs: number;
  /** Extra request headers (Authorization). */
  headers?: Record<string, string>;
  /** Lines per push request (default 1000): bounds the request size and the time to build it. */
  maxBatchLines?: number;
}

/** Counts that always add up: written = sent + dropped + buffered. */
export interface LokiCounts {
  written: number;
  sent: number;
  dropped: Record<DropReason, number>;
  /** Lines waiting, including the push in flight. */
  buffered: number;
}

/** Outcome of one push: the HTTP status, or "error" (refused, reset, DNS) or "timeout". */
type PushCode = string;

/** Loki's level label from pino's numeric level (the same names as `log.level`). */
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** An `event` field becomes a label only if it looks like an event name (bounded cardinality). */
const EVENT_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** A fixed-capacity FIFO of lines: push drops (and returns) the oldest when full. */
export class LineRing {
  private readonly buf: (string | undefined)[];
  private head = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array<string | undefined>(capacity);
  }

  /** Appends; returns true if the oldest line was dropped to make room. */
  push(line: string): boolean {
    const full = this.size === this.capacity;
    this.buf[(this.head + this.size) % this.capacity] = line;
    if (full) this.head = (this.head + 1) % this.capacity;
    else this.size++;
    return full;
  }

  /** Removes and returns up to `n` of the oldest lines. */
  take(n: number): string[] {
    const out: string[] = [];
    while (out.length < n && this.size > 0) {
      out.push(this.buf[this.head]!);
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
    return out;
  }

  /**
   * Puts lines back in front (they are older than everything queued). Keeps the newest of
   * them that fit; returns how many of the oldest did not.
   */
  unshift(lines: string[]): number {
    const room = this.capacity - this.size;
    const keep = lines.slice(Math.max(0, lines.length - room));
    for (let i = keep.length - 1; i >= 0; i--) {
      this.head = (this.head - 1 + this.capacity) % this.capacity;
      this.buf[this.head] = keep[i];
      this.size++;
    }
    return lines.length - keep.length;
  }
}

/** The push URL for a configured base URL (a path prefix such as a gateway's is kept). */
export function pushUrl(base: string): URL {
  const url = new URL(base);
  if (url.pathname.replace(/\/+$/, '').endsWith(`/${PUSH_PATH}`)) return url;
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return new URL(PUSH_PATH, url);
}

interface Entry { labels: Record<string, string>; ts: string; line: string }

/**
 * One pino JSON line → its stream labels and nanosecond timestamp. The line itself is sent
 * unchanged, so `| json` in LogQL sees the same fields as stdout.
 */
export function toEntry(raw: string, labels: Record<string, string>, nowMs = Date.now()): Entry {
  const line = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
  let rec: { level?: unknown; time?: unknown; event?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null) rec = parsed;
  } catch { /* not JSON: shipped as text, labelled by the defaults */ }
  const level = typeof rec.level === 'number' ? LEVELS[rec.level] ?? String(rec.level) : 'info';
  const l: Record<string, string> = { ...labels, level };
  if (typeof rec.event === 'string' && EVENT_RE.test(rec.event)) l.event = rec.event;
  const ms = typeof rec.time === 'number' && Number.isSafeInteger(rec.time) && rec.time > 0 ? rec.time : nowMs;
  return { labels: l, ts: `${ms}000000`, line };
}

/** The push API's JSON body: entries grouped into streams by label set, in order. */
export function pushBody(entries: Entry[]): string {
  const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
  for (const e of entries) {
    const key = JSON.stringify(e.labels);
    let s = streams.get(key);
    if (!s) streams.set(key, (s = { stream: e.labels, values: [] }));
    s.values.push([e.ts, e.line]);
  }
  return JSON.stringify({ streams: [...streams.values()] });
}

export class LokiShipper {
  private readonly ring: LineRing;
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly maxBatch: number;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private inFlightLines = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly counts: LokiCounts = { written: 0, sent: 0, dropped: { buffer_full: 0, rejected: 0, shutdown: 0 }, buffered: 0 };
  private readonly requests = new Map<PushCode, number>();
  private metrics: { written: CounterSeries; sent: CounterSeries; dropped: Record<DropReason, CounterSeries>; buffered: GaugeSeries; requests: Counter } | undefined;
  /** Whether the last push failed: only a change is reported, never every failed push. */
  private failing = false;
  /** Called when pushes start failing (with why) and when they succeed again. */
  onStateChange: (ok: boolean, why: string) => void = () => {};

  constructor(private readonly opts: LokiShipperOptions) {
    this.ring = new LineRing(opts.maxBufferedLines);
    this.url = pushUrl(opts.url);
    this.headers = { ...opts.headers, 'Content-Type': 'application/json' };
    this.maxBatch = opts.maxBatchLines ?? 1000;
  }

  /** A pino destination: called synchronously for every line; O(1), never touches the network. */
  write(line: string): boolean {
    this.counts.written++;
    if (this.closed) this.drop('shutdown', 1); // logged while stopping: too late to ship
    else if (this.ring.push(line)) this.drop('buffer_full', 1);
    this.publish();
    return true;
  }

  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.flush(), this.opts.batchIntervalMs);
    this.timer.unref(); // the HTTP server, not the log shipper, keeps the process alive
  }

  /** Pushes one batch now unless a push is in flight (then joins it). */
  flush(): Promise<void> {
    if (this.inFlight || this.ring.size === 0) return this.inFlight ?? Promise.resolve();
    const lines = this.ring.take(this.maxBatch);
    this.inFlightLines = lines.length;
    this.inFlight = this.push(lines).finally(() => {
      this.inFlight = undefined;
      this.inFlightLines = 0;
      this.publish();
    });
    return this.inFlight;
  }

  /** Stops; pushes what is buffered within `graceMs`, then counts the rest as dropped. */
  async close(graceMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const deadline = Date.now() + graceMs;
    const expired = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    while (Date.now() < deadline && (this.ring.size > 0 || this.inFlight)) {
      const before = this.counts.sent;
      await Promise.race([this.flush(), expired]);
      if (this.counts.sent === before) break; // a failing Loki: do not spin until the deadline
    }
    this.abort.abort();
    await this.inFlight;
    this.drop('shutdown', this.ring.take(this.ring.size).length);
    this.publish();
  }

  snapshot(): LokiCounts {
    return { ...this.counts, dropped: { ...this.counts.dropped }, buffered: this.ring.size + this.inFlightLines };
  }

  /** Exports the counts as metrics in `store` (declared now, kept current from then on). */
  bindMetrics(store: SeriesStore): void {
    const m = new Meter(store);
    const dropped = m.counter('bpfwasm_log_lines_dropped_total',
      'Log lines that never reached Loki: buffer_full (oldest dropped past log.loki.maxBufferedLines), rejected (4xx other than 429), shutdown', ['reason']);
    this.metrics = {
      written: m.counter('bpfwasm_log_lines_total', 'Log lines handed to the Loki shipper').series(),
      sent: m.counter('bpfwasm_log_lines_sent_total', 'Log lines Loki accepted').series(),
      dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, dropped.series(r)])) as Record<DropReason, CounterSeries>,
      buffered: m.gauge('bpfwasm_log_lines_buffered', 'Log lines waiting to be pushed to Loki, the push in flight included').series(),
      requests: m.counter('bpfwasm_log_push_requests_total',
        'Loki push attempts by HTTP status code, "error" for network errors, "timeout" past log.loki.timeoutMs', ['code']),
    };
    this.publish();
  }

  private async push(lines: string[]): Promise<void> {
    const body = pushBody(lines.map((l) => toEntry(l, this.opts.labels)));
    let code: PushCode;
    let why = '';
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      const res = await fetch(this.url, {
        method: 'POST', body, headers: this.headers, signal: AbortSignal.any([timeout, this.abort.signal]),
      });
      code = String(res.status);
      // Loki answers 204 with no body; an error's text says why (bounded by the same timeout).
      why = res.ok ? '' : (await res.text()).slice(0, 200).trim();
      if (res.ok) await res.body?.cancel();
    } catch (err) {
      code = timeout.aborted ? 'timeout' : 'error';
      why = timeout.aborted ? `no answer within ${this.opts.timeoutMs} ms` : describe(err);
    }
    this.requests.set(code, (this.requests.get(code) ?? 0) + 1);
    this.metrics?.requests.inc([code]);
    const status = Number(code);
    if (status >= 200 && status < 300) {
      this.counts.sent += lines.length;
      this.setFailing(false, '');
    } else if (status >= 400 && status < 500 && status !== 429) {
      // Loki refuses these for good (too old, too large, bad labels): a retry would fail alike.
      this.drop('rejected', lines.length);
      this.setFailing(true, `Loki rejected ${lines.length} lines: ${code} ${why}`);
    } else {
      // 429, 5xx, unreachable, timeout: the lines go back in front, within the same bound.
      this.drop('buffer_full', this.ring.unshift(lines));
      this.setFailing(true, `Loki push failed (${code}${why ? `: ${why}` : ''}); lines kept for a retry, up to log.loki.maxBufferedLines`);
    }
  }

  private drop(reason: DropReason, n: number): void {
    if (n > 0) this.counts.dropped[reason] += n;
  }

  private setFailing(failing: boolean, why: string): void {
    if (failing === this.failing) return;
    this.failing = failing;
    this.onStateChange(!failing, why);
  }

  /** Mirrors the counts into the store (absolute values: cheap, and always consistent). */
  private publish(): void {
    const m = this.metrics;
    if (!m) return;
    const c = this.snapshot();
    m.written.setTotal(c.written);
    m.sent.setTotal(c.sent);
    for (const r of DROP_REASONS) m.dropped[r].setTotal(c.dropped[r]);
    m.buffered.set(c.buffered);
  }
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
