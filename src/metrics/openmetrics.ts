// OpenMetrics 1.0 text for the series store. Pure: store in, UTF-8 text out. It differs from text
// 0.0.4 in the family names (a counter family is named without `_total`, its samples keep it),
// HELP escaping (quotes too), canonical `le` values (`1.0`, not `1`) and the `# EOF` terminator.
// `_created` samples are left out (allowed by the spec): the store keeps no creation times.
import { serializeLines, type SerializeOptions, type TextDialect } from './exposition.js';
import type { SeriesStore } from './store.js';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/**
 * The spec's canonical number rendering (for `le`): Go's shortest `%g` (exponent below 1e-4 and
 * from 1e6, at least two exponent digits), with `.0` added to integral values, as client_golang
 * and client_python write it.
 */
export function canonicalFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  const [mantissa, e] = v.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  const fixed = String(v);
  return fixed.includes('.') ? fixed : `${fixed}.0`;
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
  trailer: '# EOF\n',
};

export function serializeOpenMetrics(store: SeriesStore, opts: SerializeOptions = {}): Buffer {
  return serializeLines(store, opts, OPENMETRICS_1_0_0);
}
