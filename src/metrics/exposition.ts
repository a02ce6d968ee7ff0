// Prometheus text exposition format 0.0.4 for the series store. Pure: store in, text out.
import { escapeLabelValue, type SeriesStore } from './store.js';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Which sample of a series: a counter/gauge value, or a histogram's buckets, sum or count. */
export type SamplePart = 'value' | 'bucket' | 'sum' | 'count';

export interface SerializeOptions {
  /**
   * Writes only the samples this accepts (federation); everything when absent. For a bucket,
   * `le` is its bound as exposed ("0.25", "+Inf"), since each bucket is a series of its own.
   */
  include?: (seriesId: number, part: SamplePart, le?: string) => boolean;
  /** Labels added to every sample that lacks a label of that name (federation's external labels). */
  externalLabels?: readonly (readonly [string, string])[];
}

/** Formats a sample value the way Prometheus' Go clients do (NaN, +Inf, -Inf, shortest float). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** HELP text escaping: backslash and newline only (quotes stay as they are). */
export function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** The label text of a series with the external labels it lacks appended (precomputed per family). */
function externalSuffix(labelNames: readonly string[], external: SerializeOptions['externalLabels']): string {
  if (!external) return '';
  return external
    .filter(([name]) => !labelNames.includes(name))
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .join(',');
}

const join = (a: string, b: string) => (a && b ? `${a},${b}` : a || b);

export function serializeText(store: SeriesStore, opts: SerializeOptions = {}): string {
  const out: string[] = [];
  const slots = store.rawSlots();
  const include = opts.include;
  for (const family of store.families) {
    const { name, help, kind } = family.spec;
    const extra = externalSuffix(family.spec.labelNames, opts.externalLabels);
    const header = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${kind}\n`;
    let wroteHeader = false;
    const head = () => {
      if (!wroteHeader) out.push(header);
      wroteHeader = true;
    };
    // Without a filter every family is announced, even before its first series exists.
    if (!include) head();
    if (kind !== 'histogram') {
      for (const sid of family.series) {
        if (include && !include(sid, 'value')) continue;
        head();
        const labels = join(store.seriesLabels[sid]!, extra);
        const v = formatValue(slots[store.slotOf(sid)]!);
        out.push(labels ? `${name}{${labels}} ${v}\n` : `${name} ${v}\n`);
      }
      continue;
    }
    const leValues = [...family.bounds].map(formatValue);
    leValues.push('+Inf');
    const les = leValues.map((v) => `le="${v}"`);
    const n = family.bounds.length;
    for (const sid of family.series) {
      const labels = join(store.seriesLabels[sid]!, extra);
      const base = store.slotOf(sid);
      const prefix = labels ? `${labels},` : '';
      let acc = 0;
      for (let i = 0; i <= n; i++) {
        acc += slots[base + i]!;
        if (include && !include(sid, 'bucket', leValues[i])) continue;
        head();
        out.push(`${name}_bucket{${prefix}${les[i]}} ${formatValue(acc)}\n`);
      }
      const braces = labels ? `{${labels}}` : '';
      if (!include || include(sid, 'sum')) {
        head();
        out.push(`${name}_sum${braces} ${formatValue(slots[base + n + 1]!)}\n`);
      }
      if (!include || include(sid, 'count')) {
        head();
        out.push(`${name}_count${braces} ${formatValue(slots[base + n + 2]!)}\n`);
      }
    }
  }
  return out.join('');
}
