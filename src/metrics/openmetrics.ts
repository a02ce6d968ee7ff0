// OpenMetrics 1.0 text for the series store. Pure: store in, UTF-8 text out. It differs from text
// 0.0.4 in the family names (a counter family is named without `_total`, its samples keep it),
// HELP escaping (quotes too), canonical `le` values (`1.0`, not `1`), no `_sum`/`_count` for a
// histogram with negative bounds or a negative sum (not a counter then), and the `# EOF` terminator.
// `_created` samples are left out (allowed by the spec): the store keeps no creation times.
import { formatFloat, serializeLines, type SerializeOptions, type TextDialect } from './exposition.js';
import type { SeriesStore } from './store.js';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/**
 * The spec's canonical number rendering (for `le`): the Go client's `formatFloat`, with `.0`
 * added to integral values written without an exponent, as client_golang and client_python do.
 */
export function canonicalFloat(v: number): string {
  const text = formatFloat(v);
  return /^-?\d+$/.test(text) ? `${text}.0` : text;
}

/** HELP escaping in OpenMetrics: backslash, newline and double quote. */
export function escapeOpenMetricsHelp(help: string): string {
  return help.replace(/[\\\n"]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : '\\"'));
}

const OPENMETRICS_1_0_0: TextDialect = {
  header: ({ name, help, kind }) => {
    const family = kind === 'counter' ? name.slice(0, -'_total'.length) : name;
    return `# TYPE ${family} ${kind}\n# HELP ${family} ${escapeOpenMetricsHelp(help)}\n`;
  },
  le: canonicalFloat,
  // `_sum` is a counter here: it may not be negative or NaN, nor exist beside negative bounds,
  // and `_count` comes only with it; the +Inf bucket still carries the count.
  totals: (lowestBound, sum) => lowestBound >= 0 && sum >= 0,
  trailer: '# EOF\n',
};

export function serializeOpenMetrics(store: SeriesStore, opts: SerializeOptions = {}): Buffer {
  return serializeLines(store, opts, OPENMETRICS_1_0_0);
}
