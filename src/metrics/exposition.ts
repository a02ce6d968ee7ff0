// Prometheus text exposition format 0.0.4 for the series store. Pure: store in, UTF-8 text out.
import { ByteWriter, type SizeHint } from './byte-writer.js';
import { escapeLabelValue, type MetricSpec, type SeriesStore } from './store.js';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Which sample of a series: a counter/gauge value, or a histogram's buckets, sum or count. */
export type SamplePart = 'value' | 'bucket' | 'sum' | 'count';

export interface SerializeOptions {
  /**
   * Writes only the samples this accepts (federation); everything when absent. For a bucket,
   * `le` is its bound as text 0.0.4 exposes it ("0.25", "1", "1e+06", "+Inf") in every format, since
   * each bucket is a series of its own.
   */
  include?: (seriesId: number, part: SamplePart, le?: string) => boolean;
  /** With `include`: false for a family none of whose samples it can accept, skipped whole. */
  includeFamily?: (familyId: number) => boolean;
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

/**
 * A float as the Prometheus Go client writes it (strconv 'g' with the shortest round-trip
 * digits): exponent form below 1e-4 and from 1e6, with at least two exponent digits, e.g. `1`,
 * `0.25`, `1e+06`, `1.024e-06`. Used for `le`, which Prometheus 2.x stores as written: text and
 * OpenMetrics (`canonicalFloat`, which adds `.0` to integral values) must agree.
 */
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return '0'; // -0 too, as Go's writer does
  const [mantissa, e] = v.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(v);
}

/** HELP text escaping: backslash and newline only (quotes stay as they are). */
export function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** The label text a series lacks of the external labels, `a="x",b="y"` (computed once per family). */
function externalSuffix(labelNames: readonly string[], external: SerializeOptions['externalLabels']): string {
  if (!external) return '';
  return external
    .filter(([name]) => !labelNames.includes(name))
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .join(',');
}

/** What tells the two text formats apart: family headers, `le` rendering and the end marker. */
export interface TextDialect {
  header(spec: MetricSpec): string;
  le(bound: number): string;
  /** Whether a histogram series gets its `_sum` and `_count` lines (its lowest bound and sum given). */
  totals(lowestBound: number, sum: number): boolean;
  trailer: string;
}

const TEXT_0_0_4: TextDialect = {
  header: ({ name, help, kind }) => `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${kind}\n`,
  le: formatFloat,
  totals: () => true,
  trailer: '',
};

const NL = 0x0a;
const SP = 0x20;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

/**
 * Text goes straight into one growing buffer: a scrape of 100k histogram series is ~1.5M lines,
 * and building them as JS strings (then UTF-8 encoding the result) costs several times more.
 * Callers `ensure` room for a whole line before writing it.
 */
const TEXT_SIZE: SizeHint = { last: 64 * 1024 };

class TextWriter extends ByteWriter {
  constructor() {
    super(TEXT_SIZE);
  }

  /** Any string (UTF-8); room: 3 bytes per UTF-16 unit. */
  str(s: string): void {
    this.pos += this.buf.write(s, this.pos);
  }

  /** Short byte strings: a loop beats `set()`'s call overhead at these sizes. */
  bytes(b: Uint8Array): void {
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < b.length; i++) buf[p++] = b[i]!;
    this.pos = p;
  }

  /** Copies bytes written earlier (a series' label text, repeated on each of its lines). */
  again(from: number, to: number): void {
    const buf = this.buf;
    let p = this.pos;
    for (let i = from; i < to; i++) buf[p++] = buf[i]!;
    this.pos = p;
  }

  /** A sample value as `formatValue` renders it; room: 25 bytes. */
  value(v: number): void {
    if ((v | 0) !== v) {
      this.pos += this.buf.write(formatValue(v), this.pos, 'latin1');
      return;
    }
    // Integers (counts, most counters) without a string: digits written backwards.
    const buf = this.buf;
    if (v < 0) {
      buf[this.pos++] = 0x2d;
      v = -v;
    }
    let digits = 1;
    for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
    let p = this.pos + digits;
    this.pos = p;
    do {
      buf[--p] = 0x30 + (v % 10);
      v = (v / 10) | 0;
    } while (v > 0);
  }
}

const ascii = (s: string) => Buffer.from(s, 'utf8');

/**
 * Writes the samples of a store in a line-based text format. The `le` given to `include` is
 * always the text 0.0.4 rendering, so a selector picks the same buckets whatever the format.
 */
export function serializeLines(store: SeriesStore, opts: SerializeOptions, dialect: TextDialect): Buffer {
  const w = new TextWriter();
  const include = opts.include;
  for (const family of store.families) {
    if (include && opts.includeFamily?.(family.id) === false) continue;
    const { name, kind } = family.spec;
    const extra = externalSuffix(family.spec.labelNames, opts.externalLabels);
    const extraBytes = ascii(extra);
    const header = dialect.header(family.spec);
    let wroteHeader = false;
    const head = () => {
      w.ensure(header.length * 3);
      w.str(header);
      wroteHeader = true;
    };
    // Without a filter every family is announced, even before its first series exists.
    if (!include) head();
    /** Writes `labels[,extra]` of a series; returns false when there are none. */
    const labels = (sid: number): boolean => {
      const text = store.seriesLabels[sid]!;
      w.ensure(text.length * 3 + extraBytes.length + 1);
      w.str(text);
      if (extra) {
        if (text) w.byte(COMMA);
        w.bytes(extraBytes);
      }
      return text !== '' || extra !== '';
    };
    if (kind !== 'histogram') {
      const nameBytes = ascii(name);
      for (const sid of family.series) {
        if (include) {
          if (!include(sid, 'value')) continue;
          if (!wroteHeader) head();
        }
        w.ensure(nameBytes.length + 1);
        w.bytes(nameBytes);
        const open = w.pos;
        w.byte(LBRACE);
        if (labels(sid)) {
          w.ensure(28);
          w.byte(RBRACE);
        } else {
          w.pos = open; // no labels: no braces
          w.ensure(27);
        }
        w.byte(SP);
        w.value(store.read(sid).value());
        w.byte(NL);
      }
      continue;
    }
    const n = family.bounds.length;
    const leText = [...family.bounds].map(formatFloat);
    leText.push('+Inf');
    /** `le="…"} ` of each bucket, the +Inf one last. */
    const les = [...family.bounds].map((b) => ascii(`le="${dialect.le(b)}"} `));
    les.push(ascii('le="+Inf"} '));
    const bucket = ascii(`${name}_bucket{`);
    const sum = ascii(`${name}_sum`);
    const count = ascii(`${name}_count`);
    const tail = [['sum', sum], ['count', count]] as const;
    for (const sid of family.series) {
      const samples = store.read(sid);
      // The first bucket line writes `name_bucket{labels,`; later lines copy it.
      let prefixFrom = -1;
      let prefixTo = -1;
      let labelsFrom = -1;
      let labelsTo = -1;
      let acc = 0;
      for (let i = 0; i <= n; i++) {
        acc += samples.bucket(i);
        if (include) {
          if (!include(sid, 'bucket', leText[i])) continue;
          if (!wroteHeader) head();
        }
        if (prefixFrom < 0) {
          w.ensure(bucket.length);
          prefixFrom = w.pos;
          w.bytes(bucket);
          labelsFrom = w.pos;
          const any = labels(sid);
          labelsTo = w.pos;
          w.ensure(1);
          if (any) w.byte(COMMA);
          prefixTo = w.pos;
        } else {
          w.ensure(prefixTo - prefixFrom);
          w.again(prefixFrom, prefixTo);
        }
        const le = les[i]!;
        w.ensure(le.length + 26);
        w.bytes(le);
        w.value(acc);
        w.byte(NL);
      }
      if (!dialect.totals(family.bounds[0]!, samples.sum())) continue;
      for (const [part, bytes] of tail) {
        if (include) {
          if (!include(sid, part)) continue;
          if (!wroteHeader) head();
        }
        w.ensure(bytes.length + 2);
        w.bytes(bytes);
        if (labelsFrom < 0) {
          const open = w.pos;
          w.byte(LBRACE);
          labelsFrom = w.pos;
          const any = labels(sid);
          labelsTo = w.pos;
          if (!any) w.pos = open;
          else {
            w.ensure(1);
            w.byte(RBRACE);
          }
        } else if (labelsTo > labelsFrom) {
          w.ensure(labelsTo - labelsFrom + 2);
          w.byte(LBRACE);
          w.again(labelsFrom, labelsTo);
          w.byte(RBRACE);
        }
        w.ensure(27);
        w.byte(SP);
        w.value(part === 'sum' ? samples.sum() : samples.count());
        w.byte(NL);
      }
    }
  }
  w.ensure(dialect.trailer.length);
  w.str(dialect.trailer);
  return w.finish();
}

export function serializeText(store: SeriesStore, opts: SerializeOptions = {}): Buffer {
  return serializeLines(store, opts, TEXT_0_0_4);
}
