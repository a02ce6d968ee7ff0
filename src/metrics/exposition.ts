// Prometheus text exposition format 0.0.4 for the exporter series store. Pure: store in, text out.
import type { SeriesStore } from './store.js';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

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

export function serializeText(store: SeriesStore): string {
  const out: string[] = [];
  const slots = store.rawSlots();
  for (const family of store.families) {
    const { name, help, kind } = family.spec;
    out.push(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${kind}\n`);
    if (kind !== 'histogram') {
      for (const sid of family.series) {
        const labels = store.seriesLabels[sid]!;
        const v = formatValue(slots[store.slotOf(sid)]!);
        out.push(labels ? `${name}{${labels}} ${v}\n` : `${name} ${v}\n`);
      }
      continue;
    }
    const les = [...family.bounds].map((b) => `le="${formatValue(b)}"`);
    les.push('le="+Inf"');
    const n = family.bounds.length;
    for (const sid of family.series) {
      const labels = store.seriesLabels[sid]!;
      const prefix = labels ? `${labels},` : '';
      const base = store.slotOf(sid);
      let acc = 0;
      for (let i = 0; i <= n; i++) {
        acc += slots[base + i]!;
        out.push(`${name}_bucket{${prefix}${les[i]}} ${formatValue(acc)}\n`);
      }
      const braces = labels ? `{${labels}}` : '';
      out.push(`${name}_sum${braces} ${formatValue(slots[base + n + 1]!)}\n`);
      out.push(`${name}_count${braces} ${formatValue(slots[base + n + 2]!)}\n`);
    }
  }
  return out.join('');
}
