// RecordEvents: a batch subscription on the tap feeding a bounded queue per call, as
// StreamEvents does for decoded events, so a recording that falls behind loses batches
// (counted in events, reported) instead of slowing the pipeline.
import { arch, release } from 'node:os';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { RECORD_SIZE, SCHEMA_VERSION } from '../../ingest/generated/events.js';
import { namesForBatch } from '../../recording/names.js';
import type { EventTap } from '../event-tap.js';
import type { ApiMetrics } from '../metrics.js';
import { requestFilter, serveQueued, type StreamEventsRequest } from './events.js';

/** RecordEventsReply as grpc-js serializes it (keepCase, uint64 as strings). */
export type RecordEventsReply =
  | { start: { schema_version: number; collector: string; max_batch_bytes: number; kernel: string; arch: string } }
  | { batch: { record_type: number; count: number; records: Uint8Array; monotonic_ns: string; names: { kind: number; id: string; name: string }[] } }
  | { lost: { count: number } };

interface Batch { recordType: number; records: Uint8Array; count: number; monotonicNs: bigint }

export interface EventRecordingsOptions {
  tap: EventTap;
  metrics: ApiMetrics;
  queueEvents: number;
  /** The collector's resolver; without it a recording carries no names. */
  resolve?: (kind: number, id: bigint) => string | undefined;
  maxBatchBytes: number;
  version: string;
}

export class EventRecordings {
  private readonly open = new Set<() => void>();

  constructor(private readonly opts: EventRecordingsOptions) {}

  readonly handle = (req: StreamEventsRequest, call: ServerWritableStream<StreamEventsRequest, RecordEventsReply>): Promise<void> => {
    const filter = requestFilter(req, this.opts.tap, true);
    const { metrics, resolve } = this.opts;
    call.write({
      start: { schema_version: SCHEMA_VERSION, collector: this.opts.version, max_batch_bytes: this.opts.maxBatchBytes, kernel: release(), arch: arch() },
    });
    const answered = new Set<string>();
    return serveQueued<Batch>(call, this.open, metrics, {
      capacity: this.opts.queueEvents,
      // Names are looked up when a batch is sent, so a dropped batch costs no lookups.
      write: (item) => call.write('lost' in item ? { lost: { count: item.lost } } : { batch: this.message(item.event, answered, resolve) }),
      weight: (b) => b.count,
    }, (push) => this.opts.tap.subscribeBatches({
      filter,
      deliverBatch: (recordType, records, count) => push({ recordType, records, count, monotonicNs: process.hrtime.bigint() }),
    }));
  };

  private message(b: Batch, answered: Set<string>, resolve: EventRecordingsOptions['resolve']): Extract<RecordEventsReply, { batch: unknown }>['batch'] {
    const names = resolve ? namesForBatch(b.recordType, b.records, b.count, RECORD_SIZE[b.recordType]!, resolve, answered) : [];
    return {
      record_type: b.recordType, count: b.count, records: b.records, monotonic_ns: b.monotonicNs.toString(),
      names: names.map((n) => ({ kind: n.kind, id: n.id.toString(), name: n.name })),
    };
  }

  /** Ends every open recording (server shutdown). */
  closeAll(): void {
    for (const finish of [...this.open]) finish();
  }
}
