// The API's own metrics, in the collector's SeriesStore beside the pipeline's.
import type { SeriesStore } from '../metrics/store.js';

const OWNER = 'collector';

export class ApiMetrics {
  private readonly requests: number;
  private readonly droppedSeries: number;
  private readonly streamsSeries: number;

  constructor(private readonly store: SeriesStore) {
    this.requests = store.declare(OWNER, {
      name: 'bpfwasm_api_requests_total', help: 'gRPC API calls finished, by method and status code', kind: 'counter', labelNames: ['method', 'code'],
    });
    const dropped = store.declare(OWNER, {
      name: 'bpfwasm_api_stream_dropped_events_total', help: 'Events StreamEvents dropped because a client read slower than they arrived', kind: 'counter', labelNames: [],
    });
    const streams = store.declare(OWNER, {
      name: 'bpfwasm_api_streams', help: 'StreamEvents calls open now', kind: 'gauge', labelNames: [],
    });
    this.droppedSeries = store.series(dropped, []);
    this.streamsSeries = store.series(streams, []);
  }

  request(method: string, code: string): void {
    this.store.add(this.store.series(this.requests, [method, code]), 1);
  }

  dropped(n: number): void {
    this.store.add(this.droppedSeries, n);
  }

  streamOpened(): void {
    this.store.add(this.streamsSeries, 1);
  }

  streamClosed(): void {
    this.store.add(this.streamsSeries, -1);
  }
}
