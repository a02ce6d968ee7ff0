// The API's own metrics, in the collector's SeriesStore beside the pipeline's.
import { Meter, type Counter, type CounterSeries, type GaugeSeries } from '../metrics/meter.js';
import type { SeriesStore } from '../metrics/store.js';

export class ApiMetrics {
  private readonly requests: Counter;
  private readonly droppedEvents: CounterSeries;
  private readonly streams: GaugeSeries;

  constructor(store: SeriesStore) {
    const m = new Meter(store);
    this.requests = m.counter('bpfwasm_api_requests_total', 'gRPC API calls finished, by method and status code', ['method', 'code']);
    this.droppedEvents = m.counter('bpfwasm_api_stream_dropped_events_total', 'Events StreamEvents dropped because a client read slower than they arrived').series();
    this.streams = m.gauge('bpfwasm_api_streams', 'StreamEvents calls open now').series();
  }

  request(method: string, code: string): void {
    this.requests.inc([method, code]);
  }

  dropped(n: number): void {
    this.droppedEvents.inc(n);
  }

  streamOpened(): void {
    this.streams.add(1);
  }

  streamClosed(): void {
    this.streams.add(-1);
  }
}
