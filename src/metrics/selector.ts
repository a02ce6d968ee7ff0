// PromQL series selectors (`foo{a="b",c=~"d.*"}`) as Prometheus' /federate parses its `match[]`:
// a port of the selector part of Prometheus' lexer (promql/parser/lex.go) and grammar, with its
// error messages and `line:column` positions (columns in UTF-8 bytes, as Go counts them).
// Like Prometheus' ParseMetricSelector (which /federate uses) and unlike a PromQL query, it does
// not require a non-empty matcher nor refuse a metric name given twice: `{a=""}` selects all.
import { RE2JS } from 're2js';

export type MatchType = '=' | '!=' | '=~' | '!~';

/**
 * Bounds on the regex work one /federate request may ask for. re2js accepts programs of up to
 * 1.4 M instructions, each costing seconds and hundreds of MB to compile, so selectors are
 * refused past these before anything is compiled.
 */
export const REGEX_LIMITS = {
  /** Estimated instructions (`regexCost`) of one regex matcher: about 20 ms to compile. */
  perRegex: 4096,
  /** Estimated instructions of all regex matchers of one request. */
  perRequest: 16384,
} as const;

/** The instructions still allowed to the regexes of one request. */
export class RegexBudget {
  constructor(public remaining: number = REGEX_LIMITS.perRequest) {}
}

/** A selector within the syntax but past a cost limit (`REGEX_LIMITS`): refused, not compiled. */
export class SelectorCostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorCostError';
  }
}

/** One label matcher. Regexes are compiled once, anchored at both ends as Prometheus does. */
export class Matcher {
  readonly #re: RE2JS | undefined;
  /** Regex results by value: a value repeated across series is matched once. */
  readonly #results = new Map<string, boolean>();

  /**
   * Throws re2js' RE2JSSyntaxException (message as Go's regexp) for an invalid regex, and
   * SelectorCostError, before compiling, for one past `REGEX_LIMITS` or what `budget` has left.
   */
  constructor(readonly type: MatchType, readonly name: string, readonly value: string, budget?: RegexBudget) {
    if (type !== '=~' && type !== '!~') return;
    // Plain concatenation, as Prometheus 2.42 does: `a)|(b` therefore means `^(?:a)|(b)$` there too.
    const pattern = `^(?:${value})$`;
    const cost = regexCost(pattern);
    if (cost > REGEX_LIMITS.perRegex) {
      throw new SelectorCostError(`the regex of label ${goQuote(name)} would compile to about ${cost} instructions, more than the limit of ${REGEX_LIMITS.perRegex}`);
    }
    if (budget) {
      if (cost > budget.remaining) {
        throw new SelectorCostError(`the regexes of this request would compile to more than ${REGEX_LIMITS.perRequest} instructions in all`);
      }
      budget.remaining -= cost;
    }
    this.#re = RE2JS.compile(pattern);
  }

  get isRegex(): boolean {
    return this.#re !== undefined;
  }

  /** Whether a label value matches; a label a series lacks has the value "". */
  matches(v: string): boolean {
    switch (this.type) {
      case '=':
        return v === this.value;
      case '!=':
        return v !== this.value;
      case '=~':
        return this.#test(v);
      case '!~':
        return !this.#test(v);
    }
  }

  #test(v: string): boolean {
    let result = this.#results.get(v);
    if (result === undefined) {
      result = this.#re!.test(v);
      this.#results.set(v, result);
    }
    return result;
  }
}

/** A counted repeat (`{n}`, `{n,}`, `{n,m}`); any other `{` is a literal. */
const COUNTED_REPEAT = /\{(\d+)(,(\d*))?\}/y;

/** The counted repeat `{n}`, `{n,}` or `{n,m}` starting at `i`, if one does; COUNTED_REPEAT.lastIndex is then past it. */
function countedRepeatAt(pattern: string, i: number): RegExpExecArray | null {
  COUNTED_REPEAT.lastIndex = i;
  return COUNTED_REPEAT.exec(pattern);
}

/** The length of the escape sequence at `pattern[i]` (a backslash); `\Q…\E` is handled by the caller. */
function escapeLength(pattern: string, i: number): number {
  const c = pattern[i + 1];
  if (c === 'x' || c === 'p' || c === 'P') {
    if (pattern[i + 2] === '{') {
      const close = pattern.indexOf('}', i + 3);
      return close < 0 ? pattern.length - i : close - i + 1;
    }
    return c === 'x' ? 4 : 3;
  }
  return c === undefined ? 1 : 2;
}

/**
 * An upper bound, found without compiling, of the instructions re2js compiles an RE2 `pattern`
 * to (what RE2 calls its program size): every atom costs at least its instruction, a counted
 * repeat multiplies what it repeats. An invalid pattern gets some estimate (compiling refuses it).
 */
export function regexCost(pattern: string): number {
  // Per open group: the cost so far, and that of the last atom (what a repeat applies to).
  const stack: { total: number; last: number }[] = [{ total: 0, last: 0 }];
  let top = stack[0]!;
  const atom = (cost: number) => {
    top.total += cost;
    top.last = cost;
  };
  const repeat = (times: number) => {
    const repeated = (top.last + 1) * times;
    top.total += repeated - top.last;
    top.last = repeated;
  };
  let counted: RegExpExecArray | null;
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      if (pattern[i + 1] === 'Q') {
        const end = pattern.indexOf('\\E', i + 2);
        const literal = end < 0 ? pattern.length - i - 2 : end - i - 2;
        for (let k = 0; k < literal; k++) atom(1);
        i = end < 0 ? pattern.length : end + 2;
        continue;
      }
      atom(1);
      i += escapeLength(pattern, i);
    } else if (c === '[') {
      // A class is one instruction, however many ranges it holds.
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') {
        if (pattern[j] === '\\') j += escapeLength(pattern, j);
        else if (pattern.startsWith('[:', j)) {
          const close = pattern.indexOf(':]', j + 2);
          j = close < 0 ? j + 1 : close + 2;
        } else j++;
      }
      atom(1);
      i = j + 1;
    } else if (c === '(') {
      if (pattern[i + 1] === '?') {
        // (?flags) sets flags; (?flags:…), (?P<name>…) and (?<name>…) open a group.
        let j = i + 2;
        while (j < pattern.length && !':)>'.includes(pattern[j]!)) j++;
        if (pattern[j] === ')') {
          i = j + 1;
          continue;
        }
        i = j + 1;
      } else i++;
      top = { total: 0, last: 0 };
      stack.push(top);
    } else if (c === ')' && stack.length > 1) {
      const group = stack.pop()!.total + 2; // a capture's two instructions, a group's at most
      top = stack[stack.length - 1]!;
      atom(group);
      i++;
    } else if (c === '|') {
      top.total += 1;
      top.last = 0;
      i++;
    } else if (c === '*' || c === '+' || c === '?') {
      repeat(1);
      i++;
      if (pattern[i] === '?') i++; // non-greedy
    } else if (c === '{' && (counted = countedRepeatAt(pattern, i))) {
      const min = Number(counted[1]);
      const max = counted[2] === undefined ? min : counted[3] === '' ? min + 1 : Number(counted[3]);
      repeat(Math.max(min, max, 1));
      i = COUNTED_REPEAT.lastIndex;
      if (pattern[i] === '?') i++;
    } else {
      // One instruction per UTF-16 unit: an astral character (one instruction) counts twice.
      atom(1);
      i++;
    }
  }
  while (stack.length > 1) {
    const group = stack.pop()!.total + 2;
    top = stack[stack.length - 1]!;
    atom(group);
  }
  return top.total + 4; // the program's fail, match and whole-match capture instructions
}

export class SelectorError extends Error {
  constructor(message: string, readonly line: number, readonly column: number) {
    super(`${line}:${column}: parse error: ${message}`);
    this.name = 'SelectorError';
  }
}

type TokenType =
  | 'EOF' | 'ERROR' | 'IDENTIFIER' | 'METRIC_IDENTIFIER' | 'STRING' | 'NUMBER' | 'DURATION'
  | 'KEYWORD' | 'AGGREGATOR' | 'OPERATOR' | 'PUNCT' | 'START_END' | 'AT';

interface Token {
  type: TokenType;
  /** The token's text (a string's with its quotes; an error's message). */
  text: string;
  /** UTF-16 offset in the input. */
  pos: number;
  /** A string token's value, escapes resolved. */
  value?: string;
  /** For keywords: whether the grammar accepts it as a metric name. */
  metricName?: boolean;
}

const AGGREGATORS = new Set(['sum', 'avg', 'count', 'min', 'max', 'group', 'stddev', 'stdvar', 'topk', 'bottomk',
  'count_values', 'quantile']);
const KEYWORDS = new Set(['offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool']);
const WORD_OPERATORS = new Set(['and', 'or', 'unless', 'atan2']);
/** Keywords the grammar's `metric_identifier` rule also takes as a metric name. */
const NAME_KEYWORDS = new Set([...AGGREGATORS, 'by', 'without', 'offset', 'and', 'or', 'unless', 'start', 'end']);

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isAlpha = (c: number) => c === 0x5f || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAlphaNumeric = (c: number) => isAlpha(c) || isDigit(c);
const EOF = -1;
/** What Go's decoder yields for invalid UTF-8, and so what the lexer refuses inside strings. */
const RUNE_ERROR = 0xfffd;

const GRAPHIC = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
/** Go's unicode.IsPrint (graphic characters and the ASCII space). */
const isPrint = (c: number) => c === 0x20 || GRAPHIC.test(String.fromCodePoint(c));

const hex = (c: number, width: number) => c.toString(16).padStart(width, '0');
const SHORT_ESCAPES = new Map([[7, '\\a'], [8, '\\b'], [12, '\\f'], [10, '\\n'], [13, '\\r'], [9, '\\t'], [11, '\\v']]);

/** One character as Go's strconv.Quote writes it inside `quote`. */
function quoteChar(c: number, quote: number, escapeRuneError: boolean): string {
  if (c === quote || c === 0x5c) return `\\${String.fromCharCode(c)}`;
  if (isPrint(c) && !(escapeRuneError && c === RUNE_ERROR)) return String.fromCodePoint(c);
  const short = SHORT_ESCAPES.get(c);
  if (short) return short;
  if (c < 0x20 || c === 0x7f) return `\\x${hex(c, 2)}`;
  return c < 0x10000 ? `\\u${hex(c, 4)}` : `\\U${hex(c, 8)}`;
}

/** Go's `%q` of a string; with `runes`, of its first `runes` characters (`%.10q`). */
function goQuote(s: string, runes = Infinity, escapeRuneError = false): string {
  let out = '"';
  let n = 0;
  for (const ch of s) {
    if (n++ >= runes) break;
    out += quoteChar(ch.codePointAt(0)!, 0x22, escapeRuneError);
  }
  return `${out}"`;
}

/** Go's `%q` of a rune: `'x'`; EOF (-1) prints as the replacement character, as Go does. */
const quoteRune = (c: number) => `'${quoteChar(c < 0 ? RUNE_ERROR : c, 0x27, false)}'`;

/** Go's `%#U`: `U+0071 'q'`, without the quoted rune when it is not printable. */
const unicodeNotation = (c: number) => `U+${hex(c, 4).toUpperCase()}${isPrint(c) ? ` '${String.fromCodePoint(c)}'` : ''}`;

/** The lexer, for the tokens a selector (and whatever wrongly follows it) is made of. */
class Lexer {
  private pos = 0;
  private braceOpen = false;
  private parenDepth = 0;

  constructor(private readonly input: string) {}

  /** The code point at `pos` (a lone surrogate reads as invalid UTF-8 does in Go), or EOF. */
  private peek(): number {
    if (this.pos >= this.input.length) return EOF;
    const c = this.input.codePointAt(this.pos)!;
    return c >= 0xd800 && c <= 0xdfff ? RUNE_ERROR : c;
  }

  private next(): number {
    const c = this.peek();
    if (c !== EOF) this.pos += c > 0xffff ? 2 : 1;
    return c;
  }

  /** Skips spaces and `#` comments (which run to the end of the line). */
  private skip(): void {
    for (;;) {
      const c = this.peek();
      if (isSpace(c)) this.pos++;
      else if (c === 0x23) {
        while (this.peek() !== EOF && this.peek() !== 0x0a) this.next();
      } else return;
    }
  }

  token(): Token {
    this.skip();
    const start = this.pos;
    const tok = (type: TokenType, extra: Partial<Token> = {}): Token =>
      ({ type, text: this.input.slice(start, this.pos), pos: start, ...extra });
    const error = (message: string, at = start): Token => ({ type: 'ERROR', text: message, pos: at });
    const c = this.next();
    if (this.braceOpen) {
      switch (true) {
        case c === EOF:
          return error('unexpected end of input inside braces');
        case isAlpha(c):
          while (isAlphaNumeric(this.peek())) this.pos++;
          return tok('IDENTIFIER');
        case c === 0x2c:
          return tok('PUNCT');
        case c === 0x22 || c === 0x27 || c === 0x60:
          return this.string(start, c);
        case c === 0x3d: // =
          if (this.peek() === 0x7e) this.pos++;
          return tok(this.pos - start === 2 ? 'OPERATOR' : 'PUNCT');
        case c === 0x21: { // !
          const n = this.next();
          if (n === 0x7e || n === 0x3d) return tok('OPERATOR');
          return error(`unexpected character after '!' inside braces: ${quoteRune(n)}`);
        }
        case c === 0x7b:
          return error("unexpected left brace '{'");
        case c === 0x7d:
          this.braceOpen = false;
          return tok('PUNCT');
        default:
          return error(`unexpected character inside braces: ${quoteRune(c)}`);
      }
    }
    switch (true) {
      case c === EOF:
        return tok('EOF');
      case isAlpha(c) || c === 0x3a: {
        while (isAlphaNumeric(this.peek()) || this.peek() === 0x3a) this.pos++;
        const word = this.input.slice(start, this.pos);
        const kw = word.toLowerCase();
        const metricName = NAME_KEYWORDS.has(kw);
        if (kw === 'inf' || kw === 'nan') return tok('NUMBER');
        if (AGGREGATORS.has(kw)) return tok('AGGREGATOR', { metricName });
        if (WORD_OPERATORS.has(kw)) return tok('OPERATOR', { metricName });
        if (KEYWORDS.has(kw)) return tok('KEYWORD', { metricName });
        if (kw === 'start' || kw === 'end') return tok('START_END', { metricName });
        return tok(word.includes(':') ? 'METRIC_IDENTIFIER' : 'IDENTIFIER');
      }
      case c === 0x7b:
        this.braceOpen = true;
        return tok('PUNCT');
      case c === 0x22 || c === 0x27 || c === 0x60:
        return this.string(start, c);
      case isDigit(c) || (c === 0x2e && isDigit(this.peek())):
        return this.numberOrDuration(start);
      case c === 0x28 || c === 0x2c || c === 0x5b:
        if (c === 0x28) this.parenDepth++;
        return tok('PUNCT');
      case c === 0x29:
        // Prometheus reports this one after the parenthesis (it emits the token, then the error).
        return --this.parenDepth < 0 ? error("unexpected right parenthesis ')'", this.pos) : tok('PUNCT');
      case c === 0x5d:
        return error("unexpected right bracket ']'");
      case c === 0x3d: { // =
        const n = this.peek();
        if (n === 0x7e) return error("unexpected character after '=': '~'");
        if (n === 0x3d) this.pos++;
        return tok(n === 0x3d ? 'OPERATOR' : 'PUNCT');
      }
      case c === 0x21: { // !
        const n = this.next();
        return n === 0x3d ? tok('OPERATOR') : error(`unexpected character after '!': ${quoteRune(n)}`);
      }
      case c === 0x3c || c === 0x3e: // < <= > >=
        if (this.peek() === 0x3d) this.pos++;
        return tok('OPERATOR');
      case '*/%+-^'.includes(String.fromCharCode(c)):
        return tok('OPERATOR');
      case c === 0x40:
        return tok('AT');
      default:
        return error(`unexpected character: ${quoteRune(c)}`);
    }
  }

  /** A number or duration after a selector: only ever reported as unexpected, so lexed loosely. */
  private numberOrDuration(start: number): Token {
    const rest = this.input.slice(start);
    const number = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)/.exec(rest)![0];
    const duration = /^(?:\d+(?:ms|[smhdwy]))+/.exec(rest)?.[0];
    const text = duration && duration.length > number.length ? duration : number;
    this.pos = start + text.length;
    if (isAlphaNumeric(this.peek())) {
      return { type: 'ERROR', text: `bad number or duration syntax: ${goQuote(text)}`, pos: start };
    }
    return { type: text === duration ? 'DURATION' : 'NUMBER', text, pos: start };
  }

  /** A quoted string; `value` gets its escapes resolved the way Go's strconv.Unquote does. */
  private string(start: number, quote: number): Token {
    const error = (message: string): Token => ({ type: 'ERROR', text: message, pos: start });
    if (quote === 0x60) {
      for (;;) {
        const c = this.next();
        if (c === RUNE_ERROR) return error('invalid UTF-8 rune');
        if (c === EOF) return error('unterminated raw string');
        if (c === quote) break;
      }
      const text = this.input.slice(start, this.pos);
      return { type: 'STRING', text, pos: start, value: text.slice(1, -1) };
    }
    // \x and octal escapes are single bytes (as in Go), so the value is built as UTF-8.
    const bytes: number[] = [];
    const char = (c: number) => bytes.push(...Buffer.from(String.fromCodePoint(c)));
    for (;;) {
      let c = this.next();
      if (c === RUNE_ERROR) return error('invalid UTF-8 rune');
      if (c === EOF || c === 0x0a) return error('unterminated quoted string');
      if (c === quote) break;
      if (c !== 0x5c) {
        char(c);
        continue;
      }
      c = this.next();
      const simple = c === 0x5c || c === quote ? c : ESCAPES.get(c);
      if (simple !== undefined) {
        char(simple);
        continue;
      }
      let digits: number;
      let base: number;
      let max: number;
      if (c >= 0x30 && c <= 0x37) [digits, base, max] = [3, 8, 255];
      else if (c === 0x78) [digits, base, max] = [2, 16, 255];
      else if (c === 0x75) [digits, base, max] = [4, 16, 0x10ffff];
      else if (c === 0x55) [digits, base, max] = [8, 16, 0x10ffff];
      else if (c === EOF) return error('escape sequence not terminated');
      else return error(`unknown escape sequence ${unicodeNotation(c)}`);
      if (base === 16) c = this.next();
      let x = 0;
      for (;;) {
        const d = digitValue(c);
        if (d >= base) {
          return error(c === EOF ? 'escape sequence not terminated' : `illegal character ${unicodeNotation(c)} in escape sequence`);
        }
        x = x * base + d;
        if (--digits === 0) break;
        c = this.next();
      }
      if (x > max || (x >= 0xd800 && x < 0xe000)) return error('escape sequence is an invalid Unicode code point');
      if (max === 255) bytes.push(x);
      else char(x);
    }
    // Invalid UTF-8 from byte escapes decodes to U+FFFD (Go keeps the bytes; neither matches real label values).
    const value = new TextDecoder().decode(Uint8Array.from(bytes));
    return { type: 'STRING', text: this.input.slice(start, this.pos), pos: start, value };
  }
}

const ESCAPES = new Map([[0x61, 7], [0x62, 8], [0x66, 12], [0x6e, 10], [0x72, 13], [0x74, 9], [0x76, 11]]);

function digitValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return 16;
}

/** A token as Prometheus' parser names it in "unexpected …" (Item.desc()). */
function describe(t: Token): string {
  // Go's Item.String() abbreviates values longer than 10 bytes to their first 10 characters.
  const quoted = () => (Buffer.byteLength(t.text) > 10 ? `${goQuote(t.text, 10)}...` : goQuote(t.text));
  switch (t.type) {
    case 'EOF':
      return 'end of input';
    case 'IDENTIFIER':
      return `identifier ${goQuote(t.text)}`;
    case 'METRIC_IDENTIFIER':
      return `metric identifier ${goQuote(t.text)}`;
    case 'STRING':
      return `string ${quoted()}`;
    case 'NUMBER':
      return `number ${quoted()}`;
    case 'DURATION':
      return `duration ${quoted()}`;
    case 'KEYWORD':
      return `<${t.text}>`;
    case 'AGGREGATOR':
      return `<aggr:${t.text}>`;
    case 'OPERATOR':
      return `<op:${t.text}>`;
    case 'AT':
      return '"<Item 57385>" <op:@>'; // `@` has no display name in Prometheus 2.42's lexer
    case 'PUNCT':
    case 'START_END':
      return goQuote(t.text);
    case 'ERROR':
      return t.text;
  }
}

/**
 * Parses one series selector; throws SelectorError with Prometheus' message, or
 * SelectorCostError for a regex past `REGEX_LIMITS` (counted against `budget` when given).
 */
export function parseSelector(text: string, budget?: RegexBudget): Matcher[] {
  const lexer = new Lexer(text);
  const fail = (t: Token, message: string): never => {
    const before = text.slice(0, t.pos);
    const lineStart = before.lastIndexOf('\n') + 1;
    const line = before.split('\n').length;
    throw new SelectorError(message, line, Buffer.byteLength(before.slice(lineStart)) + 1);
  };
  const unexpected = (t: Token, context = '', expected = ''): never =>
    fail(t, t.type === 'ERROR'
      ? t.text
      : `unexpected ${describe(t)}${context && ` in ${context}`}${expected && `, expected ${expected}`}`);
  const isPunct = (t: Token, p: string) => t.type === 'PUNCT' && t.text === p;

  const matchers: Matcher[] = [];
  let t = lexer.token();
  let name: string | undefined;
  if (t.type === 'IDENTIFIER' || t.type === 'METRIC_IDENTIFIER' || t.metricName) {
    name = t.text;
    t = lexer.token();
  }
  if (isPunct(t, '{')) {
    t = lexer.token();
    while (!isPunct(t, '}')) {
      if (t.type !== 'IDENTIFIER') unexpected(t, 'label matching', 'identifier or "}"');
      const label = t;
      const op = lexer.token();
      if (!(op.type === 'OPERATOR' || isPunct(op, '='))) unexpected(op, 'label matching', 'label matching operator');
      const value = lexer.token();
      if (value.type !== 'STRING') unexpected(value, 'label matching', 'string');
      try {
        matchers.push(new Matcher(op.text as MatchType, label.text, value.value!, budget));
      } catch (err) {
        if (err instanceof SelectorCostError) throw err;
        fail(label, err instanceof Error ? err.message : String(err));
      }
      t = lexer.token();
      if (isPunct(t, ',')) t = lexer.token();
      else if (!isPunct(t, '}')) unexpected(t, 'label matching', '"," or "}"');
    }
    t = lexer.token();
  } else if (name === undefined) {
    unexpected(t);
  }
  // Prometheus puts the matcher for a name given before the braces last.
  if (name !== undefined) matchers.push(new Matcher('=', '__name__', name));
  if (t.type !== 'EOF') unexpected(t);
  return matchers;
}

/** Writes matchers back as a selector that `parseSelector` reads as the same list. */
export function formatSelector(matchers: readonly Matcher[]): string {
  return `{${matchers.map((m) => `${m.name}${m.type}${goQuote(m.value, Infinity, true)}`).join(',')}}`;
}
