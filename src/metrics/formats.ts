// Content negotiation and the one entry point every endpoint serializes through.
// The issue on exposition formats adds OpenMetrics 1.0 and delimited protobuf here.
import { serializeText, TEXT_CONTENT_TYPE, type SerializeOptions } from './exposition.js';
import type { SeriesStore } from './store.js';

export type Format = 'text';

export interface Negotiated {
  format: Format;
  contentType: string;
}

/** Picks the format for an Accept header as Prometheus sends it. */
export function negotiate(_accept: string | undefined): Negotiated {
  return { format: 'text', contentType: TEXT_CONTENT_TYPE };
}

export function serialize(format: Format, store: SeriesStore, opts: SerializeOptions = {}): string | Buffer {
  switch (format) {
    case 'text':
      return serializeText(store, opts);
  }
}
