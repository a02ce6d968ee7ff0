// Label values and HELP text survive every writer for any input: escaping round-trips.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeHelp, serializeText } from '../../src/metrics/exposition.js';
import { serializeOpenMetrics } from '../../src/metrics/openmetrics.js';
import { escapeLabelValue, SeriesStore } from '../../src/metrics/store.js';

/** Reverses the text formats' escaping (\\, \" and \n). */
function unescape(s: string): string {
  return s.replace(/\\(.)/gs, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Reads the one label value of `name{l="..."} v` back out of an exposition. */
function labelValueIn(exposition: string, name: string): string {
  const line = exposition.split('\n').find((l) => l.startsWith(`${name}{`));
  if (!line) throw new Error(`no sample line for ${name}`);
  const m = /^[^{]+\{l="((?:[^"\\]|\\.)*)"\} \S+$/s.exec(line);
  if (!m) throw new Error(`malformed sample line: ${JSON.stringify(line)}`);
  return unescape(m[1]!);
}

function storeWith(value: string, help = 'h'): SeriesStore {
  const store = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 1 << 20 });
  const m = store.declare('t', { name: 'x_total', help, kind: 'counter', labelNames: ['l'] });
  store.add(store.series(m, [value]), 1);
  return store;
}

const anyText = fc.string({ unit: 'grapheme', maxLength: 40 });
const tricky = fc.stringMatching(/^[\\"\n{}=,a]{0,20}$/);

describe('escaping', () => {
  it('property: escapeLabelValue round-trips and leaves no raw newline or bare quote', () => {
    fc.assert(fc.property(fc.oneof(anyText, tricky), (v) => {
      const e = escapeLabelValue(v);
      expect(unescape(e)).toBe(v);
      expect(e).not.toContain('\n');
      expect(/(^|[^\\])(\\\\)*"/.test(e)).toBe(false);
    }));
  });

  it('property: any label value reads back from the text 0.0.4 and OpenMetrics writers', () => {
    fc.assert(fc.property(fc.oneof(anyText, tricky), (v) => {
      const store = storeWith(v);
      expect(labelValueIn(serializeText(store).toString(), 'x_total')).toBe(v);
      expect(labelValueIn(serializeOpenMetrics(store).toString(), 'x_total')).toBe(v);
    }));
  });

  it('property: HELP text of any content stays on its line and round-trips', () => {
    fc.assert(fc.property(fc.oneof(anyText, tricky), (help) => {
      const text = serializeText(storeWith('v', help)).toString();
      const line = text.split('\n')[0]!;
      expect(line.startsWith('# HELP x_total ')).toBe(true);
      expect(unescape(line.slice('# HELP x_total '.length))).toBe(help);
      expect(escapeHelp(help)).not.toContain('\n');
    }));
  });
});
