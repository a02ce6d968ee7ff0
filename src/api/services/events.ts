// StreamEvents: a tap subscription feeding a bounded queue per call (stream-queue.ts), so a
// reader that falls behind loses events, counted and reported, instead of slowing the pipeline.
import type { ServerWritableStream } from '@grpc/grpc-js';
import { BpfwasmError } from '../../errors.js';
import { EventFilter } from '../event-filter.js';
import type { EventTap } from '../event-tap.js';
import type { ApiEvent } from '../event-decode.js';
import type { ApiMetrics } from '../metrics.js';
import { StreamQueue, type StreamQueueOptions } from '../stream-queue.js';

export interface StreamEventsRequest {
  types: string[];
  pid: number;
  comm: string;
  cgroup_id: string;
  cgroup: string;
}

/** The filter a StreamEvents or RecordEvents request asks for; recordings may take aggregate records. */
export function requestFilter(req: StreamEventsRequest, tap: Pick<EventTap, 'cgroupPathOf' | 'cgroupExists'>, aggregates = false): EventFilter {
  // A numeric `cgroup` is an id, as on the CLI's --cgroup.
  const numeric = /^\d+$/.test(req.cgroup);
  // A path that names no cgroup would stream nothing, silently: say so instead.
  if (req.cgroup && !numeric && tap.cgroupExists(req.cgroup.replace(/^\/+/, '')) === false) {
    throw new BpfwasmError('REQUEST_INVALID', `cgroup ${JSON.stringify(req.cgroup)} does not exist (a path under the cgroup v2 mount, e.g. system.slice/nginx.service, or an id), so nothing would match`);
  }
  return new EventFilter({
    types: req.types,
    pid: req.pid,
    comm: req.comm,
    cgroupId: BigInt(numeric ? req.cgroup : req.cgroup_id || '0'),
    cgroup: numeric ? '' : req.cgroup,
    aggregates,
  }, tap.cgroupPathOf);
}

export type StreamEventsReply = { event: ApiEvent } | { lost: { count: number } };

export interface EventStreamsOptions {
  tap: EventTap;
  metrics: ApiMetrics;
  queueEvents: number;
}

/**
 * Serves one streaming call from a tap subscription through a bounded queue until the call
 * ends; its finisher is in `open` meanwhile, for a server shutdown to end it.
 */
export function serveQueued<E>(
  call: ServerWritableStream<unknown, unknown>, open: Set<() => void>, metrics: ApiMetrics,
  queueOptions: Omit<StreamQueueOptions<E>, 'onDrop'>, subscribe: (push: (event: E) => void) => () => void,
): Promise<void> {
  return new Promise((resolve) => {
    const queue = new StreamQueue<E>({ ...queueOptions, onDrop: (n) => metrics.dropped(n) });
    call.on('drain', () => queue.drain());
    let closed = false;
    // A batch already being delivered may still reach a stream that just closed.
    const unsubscribe = subscribe((event) => { if (!closed) queue.push(event); });
    metrics.streamOpened();
    const finish = () => {
      if (!open.delete(finish)) return;
      closed = true;
      unsubscribe();
      metrics.streamClosed();
      resolve();
    };
    open.add(finish);
    call.on('cancelled', finish);
    call.on('error', finish);
    call.on('close', finish);
  });
}

export class EventStreams {
  /** Open calls, ended when the server stops. */
  private readonly open = new Set<() => void>();

  constructor(private readonly opts: EventStreamsOptions) {}

  readonly handle = (req: StreamEventsRequest, call: ServerWritableStream<StreamEventsRequest, StreamEventsReply>): Promise<void> => {
    const filter = requestFilter(req, this.opts.tap);
    const { metrics } = this.opts;
    return serveQueued<ApiEvent>(call, this.open, metrics, {
      capacity: this.opts.queueEvents,
      write: (item) => call.write('event' in item ? { event: item.event } : { lost: { count: item.lost } }),
    }, (push) => this.opts.tap.subscribe({ filter, deliver: push }));
  };

  /** Ends every open stream (server shutdown): clients see the stream complete. */
  closeAll(): void {
    for (const finish of [...this.open]) finish();
  }
}
