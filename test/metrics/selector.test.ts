import fc from 'fast-check';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';
import { formatSelector, Matcher, parseSelector, SelectorError, type MatchType } from '../../src/metrics/selector.js';

const m = (type: MatchType, name: string, value: string) => ({ type, name, value });
const plain = (ms: Matcher[]) => ms.map(({ type, name, value }) => ({ type, name, value }));

function errorOf(text: string): SelectorError {
  try {
    parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorError) return err;
    throw err;
  }
  throw new Error(`${JSON.stringify(text)} parsed`);
}

describe('parseSelector', () => {
  it.each<[string, ReturnType<typeof m>[]]>([
    ['up', [m('=', '__name__', 'up')]],
    ['job:rate5m:sum', [m('=', '__name__', 'job:rate5m:sum')]],
    [':x', [m('=', '__name__', ':x')]],
    // The name given before the braces comes last, as in Prometheus.
    ['foo{a="b"}', [m('=', 'a', 'b'), m('=', '__name__', 'foo')]],
    ['{a!="b",c=~"d.*",e!~"f"}', [m('!=', 'a', 'b'), m('=~', 'c', 'd.*'), m('!~', 'e', 'f')]],
    ['up{job="x",}', [m('=', 'job', 'x'), m('=', '__name__', 'up')]],
    ['{}', []],
    [' \t\n foo { a = "b" , } \r\n', [m('=', 'a', 'b'), m('=', '__name__', 'foo')]],
    ['foo # a comment', [m('=', '__name__', 'foo')]],
    ['foo{a="b" # c\n}', [m('=', 'a', 'b'), m('=', '__name__', 'foo')]],
    // Keywords are label names inside braces; some are metric names before them.
    ['foo{sum="x",on="y",bool="z"}', [m('=', 'sum', 'x'), m('=', 'on', 'y'), m('=', 'bool', 'z'), m('=', '__name__', 'foo')]],
    ['sum', [m('=', '__name__', 'sum')]],
    ['BY{a="b"}', [m('=', 'a', 'b'), m('=', '__name__', 'BY')]],
    ['offset', [m('=', '__name__', 'offset')]],
    ['{__name__=~"a.+"}', [m('=~', '__name__', 'a.+')]],
    // Like Prometheus' /federate (not a PromQL query): no non-empty matcher needed, name twice allowed.
    ['{a=""}', [m('=', 'a', '')]],
    ['foo{__name__="bar"}', [m('=', '__name__', 'bar'), m('=', '__name__', 'foo')]],
  ])('%j', (text, expected) => {
    expect(plain(parseSelector(text))).toEqual(expected);
  });

  it.each<[string, string]>([
    // Double quotes: all of Go's escapes; \x and octal are bytes of UTF-8.
    ['"\\a\\b\\f\\n\\r\\t\\v\\\\\\""', '\x07\b\f\n\r\t\v\\"'],
    ['"\\x41\\101\\u00e4\\U0001F600"', 'AAä😀'],
    ['"\\xc3\\xa4\\303\\244"', 'ää'],
    ['"it\'s"', "it's"],
    ['"ünïcødé 😀"', 'ünïcødé 😀'],
    // Single quotes: the same escapes, with \' instead of \".
    ["'\\'\\n\\x41'", "'\nA"],
    ["'say \"hi\"'", 'say "hi"'],
    // Backticks: raw, newlines included, no escapes.
    ['`a\\nb\\x41"\'`', 'a\\nb\\x41"\''],
    ['`line\nbreak`', 'line\nbreak'],
  ])('string %s is %j', (literal, value) => {
    expect(plain(parseSelector(`{a=${literal}}`))).toEqual([m('=', 'a', value)]);
  });

  // Messages and positions as Prometheus 2.42's /federate answers them (checked against it).
  it.each<[string, string]>([
    ['foo{%}', '1:5: parse error: unexpected character inside braces: \'%\''],
    ['{%}', '1:2: parse error: unexpected character inside braces: \'%\''],
    ['', '1:1: parse error: unexpected end of input'],
    ['up{,}', '1:4: parse error: unexpected "," in label matching, expected identifier or "}"'],
    ['up{job}', '1:7: parse error: unexpected "}" in label matching, expected label matching operator'],
    ['up{job=}', '1:8: parse error: unexpected "}" in label matching, expected string'],
    ['foo{a="b" c="d"}', '1:11: parse error: unexpected identifier "c" in label matching, expected "," or "}"'],
    ['foo{a="b",,}', '1:11: parse error: unexpected "," in label matching, expected identifier or "}"'],
    ['foo{a=="b"}', '1:7: parse error: unexpected "=" in label matching, expected string'],
    ['foo{a="b"!="c"}', '1:10: parse error: unexpected <op:!=> in label matching, expected "," or "}"'],
    ['foo{a="abcdefghijklmn"="c"}', '1:23: parse error: unexpected "=" in label matching, expected "," or "}"'],
    ['foo{a!x}', '1:6: parse error: unexpected character after \'!\' inside braces: \'x\''],
    ['foo{a="b"}{c="d"}', '1:11: parse error: unexpected "{"'],
    ['foo{{', '1:5: parse error: unexpected left brace \'{\''],
    ['foo{a="b"', '1:10: parse error: unexpected end of input inside braces'],
    ['foo{1a="x"}', '1:5: parse error: unexpected character inside braces: \'1\''],
    ['foo{ä="b"}', '1:5: parse error: unexpected character inside braces: \'ä\''],
    ['ß{a="b"}', '1:1: parse error: unexpected character: \'ß\''],
    ['foo}', '1:4: parse error: unexpected character: \'}\''],
    ['foo{a="b"}}', '1:11: parse error: unexpected character: \'}\''],
    ['"foo"', '1:1: parse error: unexpected string "\\"foo\\""'],
    ['foo bar', '1:5: parse error: unexpected identifier "bar"'],
    ['foo{a="b"} bar', '1:12: parse error: unexpected identifier "bar"'],
    ['foo[5m]', '1:4: parse error: unexpected "["'],
    ['foo offset 5m', '1:5: parse error: unexpected <offset>'],
    ['foo 5', '1:5: parse error: unexpected number "5"'],
    ['foo 5m', '1:5: parse error: unexpected duration "5m"'],
    ['foo{a=~"x"} 1.5e3', '1:13: parse error: unexpected number "1.5e3"'],
    ['foo .5', '1:5: parse error: unexpected number ".5"'],
    ['foo .', '1:5: parse error: unexpected character: \'.\''],
    ['1foo', '1:1: parse error: bad number or duration syntax: "1"'],
    ['foo 0x1g', '1:5: parse error: bad number or duration syntax: "0x1"'],
    ['foo +', '1:5: parse error: unexpected <op:+>'],
    ['foo ==', '1:5: parse error: unexpected <op:==>'],
    ['foo{a=~"b"} ^', '1:13: parse error: unexpected <op:^>'],
    ['foo )', '1:6: parse error: unexpected right parenthesis \')\''],
    ['foo ]', '1:5: parse error: unexpected right bracket \']\''],
    ['foo (', '1:5: parse error: unexpected "("'],
    ['foo ,', '1:5: parse error: unexpected ","'],
    ['foo;', '1:4: parse error: unexpected character: \';\''],
    ['foo !x', '1:5: parse error: unexpected character after \'!\': \'x\''],
    ['foo !', '1:5: parse error: unexpected character after \'!\': \'\uFFFD\''],
    ['foo @ 5', '1:5: parse error: unexpected "<Item 57385>" <op:@>'],
    ['foo sum', '1:5: parse error: unexpected <aggr:sum>'],
    ['atan2', '1:1: parse error: unexpected <op:atan2>'],
    ['on{a="b"}', '1:1: parse error: unexpected <on>'],
    ['foo ON', '1:5: parse error: unexpected <ON>'],
    ['bool', '1:1: parse error: unexpected <bool>'],
    ['foo group_left', '1:5: parse error: unexpected <group_left>'],
    ['foo start', '1:5: parse error: unexpected "start"'],
    ['inf', '1:1: parse error: unexpected number "inf"'],
    ['Inf{a="b"}', '1:1: parse error: unexpected number "Inf"'],
    ["foo 'x'", '1:5: parse error: unexpected string "\'x\'"'],
    ['foo `x`', '1:5: parse error: unexpected string "`x`"'],
    ['foo "x', '1:5: parse error: unterminated quoted string'],
    ['foo `x', '1:5: parse error: unterminated raw string'],
    ['up{job="abc', '1:8: parse error: unterminated quoted string'],
    ['up{job="a\nb"}', '1:8: parse error: unterminated quoted string'],
    // Escape errors point at the string's start.
    ['up{job="a\\qb"}', '1:8: parse error: unknown escape sequence U+0071 \'q\''],
    ['up{job=\'a\\"\'}', '1:8: parse error: unknown escape sequence U+0022 \'"\''],
    ['up{job="a\\x"}', '1:8: parse error: illegal character U+0022 \'"\' in escape sequence'],
    ['up{job="\\777"}', '1:8: parse error: escape sequence is an invalid Unicode code point'],
    ['up{job="\\uD800"}', '1:8: parse error: escape sequence is an invalid Unicode code point'],
    ['up{job=~"(a)\\1"}', '1:9: parse error: illegal character U+0022 \'"\' in escape sequence'],
    ['up{job="\\', '1:8: parse error: escape sequence not terminated'],
    ['up{job="\uFFFD"}', '1:8: parse error: invalid UTF-8 rune'],
    // Regex errors: Go's (RE2's) message, at the matcher's start.
    ['up{job=~"(?=a)"}', '1:4: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?=`'],
    ['up{job=~"(a"}', '1:4: parse error: error parsing regexp: missing closing ): `^(?:(a)$`'],
    ['up{job=~"a)"}', '1:4: parse error: error parsing regexp: unexpected ): `^(?:a))$`'],
    ['foo{a=~"\\\\C"}', '1:5: parse error: error parsing regexp: invalid escape sequence: `\\C`'],
    ['foo{a=~"a{1001}"}', '1:5: parse error: error parsing regexp: invalid repeat count: `{1001}`'],
    ['foo{a=~"[a-"}', '1:5: parse error: error parsing regexp: invalid character class range: `a-)`'],
    ['foo{a=~"a**"}', '1:5: parse error: error parsing regexp: invalid nested repetition operator: `**`'],
    ['foo{a=~"(?z)"}', '1:5: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?z`'],
    ['foo{a=~"\\\\p{Foo}"}', '1:5: parse error: error parsing regexp: invalid character class range: `\\p{Foo}`'],
    // Lines and columns: columns count UTF-8 bytes, as Go does.
    ['foo{\n  a="b",\n  %}', '3:3: parse error: unexpected character inside braces: \'%\''],
    ['{a="ä", %}', '1:10: parse error: unexpected character inside braces: \'%\''],
  ])('rejects %j', (text, message) => {
    expect(errorOf(text).message).toBe(message);
  });

  it('reports the position as line and column', () => {
    const err = errorOf('x{\n a!x}');
    expect([err.line, err.column]).toEqual([2, 3]);
  });

  it('rejects syntax RE2 does not have: lookaround and backreferences', () => {
    expect(() => parseSelector('{a=~"(?!x)y"}')).toThrow('invalid or unsupported Perl syntax: `(?!`');
    expect(() => parseSelector('{a=~"(?<=x)y"}')).toThrow(SelectorError);
    expect(() => parseSelector('{a=~"(a)\\\\1"}')).toThrow('error parsing regexp: invalid escape sequence: `\\1`');
  });
});

describe('Matcher', () => {
  const one = (text: string) => parseSelector(text)[0]!;

  it('anchors regexes at both ends', () => {
    const re = one('{a=~"foo"}');
    expect(re.matches('foo')).toBe(true);
    expect(re.matches('foobar')).toBe(false);
    expect(re.matches('xfoo')).toBe(false);
    expect(one('{a!~"foo"}').matches('foobar')).toBe(true);
    expect(one('{a=~"foo|bar"}').matches('bar')).toBe(true);
    expect(one('{a=~"foo|bar"}').matches('foobar')).toBe(false);
  });

  it('honours (?i) and RE2 classes; `.` does not match a newline (as in Prometheus 2.42)', () => {
    const re = one('{a=~"(?i)foo.*"}');
    expect(['FOO', 'Foobar', 'fOo'].map((v) => re.matches(v))).toEqual([true, true, true]);
    expect(re.matches('xfoo')).toBe(false);
    expect(one('{a=~"[[:digit:]]+"}').matches('123')).toBe(true);
    expect(one('{a=~"\\\\pL+"}').matches('äb')).toBe(true);
    expect(one('{a=~".*"}').matches('a\nb')).toBe(false);
    expect(one('{a=~"(?s).*"}').matches('a\nb')).toBe(true);
  });

  it('matches the empty string for a label a series lacks', () => {
    expect(one('{a=""}').matches('')).toBe(true);
    expect(one('{a!=""}').matches('')).toBe(false);
    expect(one('{a=~".*"}').matches('')).toBe(true);
    expect(one('{a=~".+"}').matches('')).toBe(false);
    expect(one('{a!~"x"}').matches('')).toBe(true);
  });
});

// Label values Prometheus can hold: any valid Unicode, with quotes, backslashes and newlines likely.
const labelValue = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('"', "'", '`', '\\', '\n', '\r', '\t', '\0', '\u007f', '\uFFFD', 'ä', '😀', 'a', ' ') }),
);
const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/);
const matcher = fc.oneof(
  fc.record({ type: fc.constantFrom<MatchType>('=', '!='), name: labelName, value: labelValue }),
  // Any literal text is a valid regex once quoted; plus some real ones.
  fc.record({
    type: fc.constantFrom<MatchType>('=~', '!~'),
    name: labelName,
    value: fc.oneof(labelValue.map((v) => RE2JS.quote(v)), fc.constantFrom('.*', '(?i)a|b', '[^"\\\\]+', 'x{2,3}')),
  }),
).map(({ type, name, value }) => new Matcher(type, name, value));

describe('properties', () => {
  it('formatSelector round-trips through parseSelector', () => {
    fc.assert(fc.property(fc.array(matcher, { maxLength: 5 }), (ms) => {
      expect(plain(parseSelector(formatSelector(ms)))).toEqual(plain(ms));
    }), { numRuns: 500 });
  });

  it('throws nothing but SelectorError on any input', () => {
    const selectorish = fc.string({ unit: fc.constantFrom('{', '}', '"', "'", '`', '\\', '=', '~', '!', ',', 'a', '_', ':', '1', ' ', '\n', '#', '(', ')', '[', 'x', 'u', '.', '*', '?', '\uFFFD', 'ä') });
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary' }), selectorish), (text) => {
      try {
        parseSelector(text);
      } catch (err) {
        if (!(err instanceof SelectorError)) throw err;
      }
    }), { numRuns: 2000 });
  });
});
