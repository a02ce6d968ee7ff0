// Content negotiation and the one entry point every endpoint serializes through.
import { serializeText, TEXT_CONTENT_TYPE, type SerializeOptions } from './exposition.js';
import { OPENMETRICS_CONTENT_TYPE, serializeOpenMetrics } from './openmetrics.js';
import type { SeriesStore } from './store.js';

/** Prometheus' delimited protobuf exposition (./protobuf.ts); said here, as that module loads on demand. */
export const PROTOBUF_CONTENT_TYPE =
  'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

export type Format = 'text' | 'openmetrics' | 'protobuf';

export interface Negotiated {
  format: Format;
  contentType: string;
}

export interface NegotiateOptions {
  /** Offer OpenMetrics; default true. /federate passes false, as Prometheus' own federation does. */
  openMetrics?: boolean;
}

const TEXT: Negotiated = { format: 'text', contentType: TEXT_CONTENT_TYPE };
const PROTOBUF: Negotiated = { format: 'protobuf', contentType: PROTOBUF_CONTENT_TYPE };
const OPENMETRICS_1_0_0: Negotiated = { format: 'openmetrics', contentType: OPENMETRICS_CONTENT_TYPE };
// 0.0.1 is the pre-standard name of the same text; what we write is valid as both.
const OPENMETRICS_0_0_1: Negotiated = {
  format: 'openmetrics',
  contentType: 'application/openmetrics-text; version=0.0.1; charset=utf-8',
};

interface MediaRange {
  type: string;
  subtype: string;
  params: Map<string, string>;
  q: number;
}

/** Splits on `sep` outside double-quoted strings. */
function splitUnquoted(s: string, sep: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && quoted) i++;
    else if (c === sep && !quoted) {
      parts.push(s.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(s.slice(from));
  return parts;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Parses an Accept header (RFC 9110 §12.5.1) into media ranges, most preferred first: by q,
 * then by specificity (`text/plain` over `text/*` over `*\/*`), then in the order given.
 * Malformed ranges and ranges with q=0 ("not acceptable") are dropped.
 */
export function parseAccept(header: string): MediaRange[] {
  const ranges: (MediaRange & { order: number })[] = [];
  for (const item of splitUnquoted(header, ',')) {
    const [mediaType = '', ...rawParams] = splitUnquoted(item, ';');
    const [type = '', subtype = '', extra] = mediaType.trim().toLowerCase().split('/');
    if (!TOKEN.test(type) || !TOKEN.test(subtype) || extra !== undefined || (type === '*' && subtype !== '*')) continue;
    const params = new Map<string, string>();
    let q = 1;
    let valid = true;
    for (const raw of rawParams) {
      if (!raw.trim()) continue; // a stray `;`
      const eq = raw.indexOf('=');
      const name = raw.slice(0, eq).trim().toLowerCase();
      let value = raw.slice(eq + 1).trim();
      if (eq < 0 || !TOKEN.test(name)) {
        valid = false;
        break;
      }
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
      if (name === 'q') {
        if (!QVALUE.test(value)) valid = false;
        q = Number(value);
      } else {
        params.set(name, value);
      }
    }
    if (valid && q > 0) ranges.push({ type, subtype, params, q, order: ranges.length });
  }
  const specificity = (r: MediaRange) => (r.type === '*' ? 0 : r.subtype === '*' ? 1 : 2);
  ranges.sort((a, b) => b.q - a.q || specificity(b) - specificity(a) || a.order - b.order);
  return ranges;
}

/** The format a media range asks for, or undefined when we cannot serve it. */
function formatFor(r: MediaRange, opts: NegotiateOptions): Negotiated | undefined {
  const version = r.params.get('version');
  const mime = `${r.type}/${r.subtype}`;
  switch (mime) {
    case 'application/vnd.google.protobuf':
      return r.params.get('proto') === 'io.prometheus.client.MetricFamily' && r.params.get('encoding') === 'delimited'
        ? PROTOBUF
        : undefined;
    case 'application/openmetrics-text':
      if (opts.openMetrics === false) return undefined;
      return version === undefined || version === '1.0.0' ? OPENMETRICS_1_0_0 : version === '0.0.1' ? OPENMETRICS_0_0_1 : undefined;
    case 'text/plain':
      return version === undefined || version === '0.0.4' ? TEXT : undefined;
    case 'text/*':
    case '*/*':
      return TEXT; // any format will do: ours is text 0.0.4
    default:
      return undefined;
  }
}

/**
 * Picks the format for an Accept header as Prometheus sends it: the most preferred range we
 * can serve. Like Prometheus' client libraries, anything else (no header, nothing we serve)
 * gets text 0.0.4 rather than 406.
 */
export function negotiate(accept: string | undefined, opts: NegotiateOptions = {}): Negotiated {
  if (!accept) return TEXT;
  for (const r of parseAccept(accept)) {
    const f = formatFor(r, opts);
    if (f) return f;
  }
  return TEXT;
}

/** The protobuf serializer, loaded by the first scrape that asks for it: protobufjs and metrics.proto were ~40 ms of start-up. */
let protobufModule: Promise<typeof import('./protobuf.js')> | undefined;

export async function serialize(format: Format, store: SeriesStore, opts: SerializeOptions = {}): Promise<Buffer> {
  switch (format) {
    case 'text':
      return serializeText(store, opts);
    case 'openmetrics':
      return serializeOpenMetrics(store, opts);
    case 'protobuf':
      return (await (protobufModule ??= import('./protobuf.js'))).serializeProtobuf(store, opts);
  }
}
