// Selectors are network input (/federate match[]): the parser and matcher throw nothing but
// their coded errors, answer in bounded time, and the cost gate never lets a costlier program in.
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';
import { parseSelector, regexCost, REGEX_LIMITS, SelectorCostError, SelectorError } from '../../src/metrics/selector.js';
import { fuzzParameters, fuzzTimeout } from './settings.js';

/** RE2 regexes built from the syntax's parts, so most compile and exercise the estimator. */
const regex: fc.Arbitrary<string> = fc.letrec<{ re: string }>((tie) => ({
  re: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('a', 'b', '.', '\\d', '[a-z]', '[^]x]', '\\pL', '\\p{Greek}', '\\x{41}', '\\x41', '\\Qab*\\E', '(?i)',
      '^', '$', 'é', '😀', '{', '\\{', '[[:alpha:]]', '\\b', '(?s).', ''),
    fc.tuple(tie('re'), tie('re')).map(([a, b]) => a + b),
    fc.tuple(tie('re'), tie('re')).map(([a, b]) => `${a}|${b}`),
    fc.tuple(tie('re'), fc.constantFrom('(', '(?:', '(?P<n>', '(?<m>', '(?i:')).map(([a, open]) => `${open}${a})`),
    fc.tuple(tie('re'), fc.constantFrom('*', '+', '?', '*?', '{3}', '{2,5}', '{4,}', '{0,7}', '{1}', '{0}', '{20}', '{2}?'))
      .map(([a, r]) => `(?:${a})${r}`),
  ),
})).re;

describe('selector fuzz', () => {
  it('regexCost is never below the program re2js compiles', () => {
    fc.assert(fc.property(regex, (pattern) => {
      let compiled: RE2JS;
      try {
        compiled = RE2JS.compile(pattern);
      } catch {
        return;
      }
      expect(regexCost(pattern)).toBeGreaterThanOrEqual(compiled.programSize());
    }), fuzzParameters(3000, 4));
  }, fuzzTimeout(4));

  const selectorText = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.tuple(fc.constantFrom('', 'up', 'foo:bar', 'sum'), fc.array(fc.tuple(
      fc.constantFrom('a', '__name__', 'le', 'x y', '1'),
      fc.constantFrom('=', '!=', '=~', '!~', '==', '~'),
      fc.oneof(regex, fc.string({ maxLength: 20 })),
      fc.constantFrom('"', "'", '`'),
    ), { maxLength: 4 }), fc.constantFrom('', ',', '}', ' # c', '[5m]')).map(([name, ms, tail]) =>
      `${name}{${ms.map(([l, op, v, q]) => `${l}${op}${q}${q === '`' ? v : v.replaceAll('\\', '\\\\').replaceAll(q, `\\${q}`)}${q}`).join(',')}${tail}`),
  );

  it('parseSelector throws only SelectorError or SelectorCostError, and matchers only answer booleans', () => {
    fc.assert(fc.property(selectorText, fc.array(fc.string({ maxLength: 30 }), { maxLength: 5 }), (text, values) => {
      const started = performance.now();
      let matchers;
      try {
        matchers = parseSelector(text);
      } catch (err) {
        expect(err instanceof SelectorError || err instanceof SelectorCostError, String(err)).toBe(true);
        return;
      }
      for (const m of matchers) for (const v of values) expect(typeof m.matches(v)).toBe('boolean');
      expect(performance.now() - started).toBeLessThan(1000);
    }), fuzzParameters(3000, 5));
  }, fuzzTimeout(5));

  it('a regex past the limit is refused before compiling, whatever its shape', () => {
    fc.assert(fc.property(regex, fc.integer({ min: 2, max: 1000 }), (inner, times) => {
      const value = `(?:${inner}|${'x'.repeat(64)}){${times}}`;
      const started = performance.now();
      try {
        parseSelector(`{a=~${JSON.stringify(value)}}`);
      } catch (err) {
        if (err instanceof SelectorError) return; // not RE2 (e.g. a repeat past 1000 in all)
        expect(err).toBeInstanceOf(SelectorCostError);
        expect(regexCost(`^(?:${value})$`)).toBeGreaterThan(REGEX_LIMITS.perRegex);
      }
      // Accepted or refused, never the seconds a 1 M-instruction compile takes.
      expect(performance.now() - started).toBeLessThan(1000);
    }), fuzzParameters(500, 4));
  }, fuzzTimeout(4));
});
