// A config file is user input: whatever YAML it holds and whatever values sit at whatever keys,
// loading it either gives a config or one CONFIG_INVALID error that names the key (or the file),
// never another exception and never a change to anything but the config.
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { defaultConfig, loadConfig } from '../../src/config.js';
import { BpfwasmError } from '../../src/errors.js';
import { fuzzParameters, fuzzTimeout } from './settings.js';

/** Every key path of the default config, down to its leaves. */
function keyPaths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix];
  const entries = Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => keyPaths(v, [...prefix, k]))];
}
const PATHS = keyPaths(defaultConfig()).filter((p) => p.length > 0);
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', 'a.b', 'x'];

const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -1, 1, 1e308, -1e308, 2 ** 53, 0.5, Number.NaN, Infinity, '', '0', 'yes', '/dev/null', '/proc/x', '0.0.0.0:0',
      'not a host!', '[::1]:9746', 'a'.repeat(300), '..', '{{', 'http://', 'https://x/y'),
    fc.string({ maxLength: 20 }),
    fc.integer(),
    fc.double(),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 8 })), tie('v'), { maxKeys: 3 }),
  ),
})).v;

/** A document with values set at real key paths (often a leaf, sometimes a section) and some foreign keys. */
const doc = fc.array(fc.tuple(
  fc.oneof(fc.constantFrom(...PATHS), fc.tuple(fc.constantFrom(...PATHS), fc.constantFrom(...HOSTILE_KEYS)).map(([p, k]) => [...p, k])),
  value,
), { maxLength: 6 }).map((sets) => {
  const root: Record<string, unknown> = {};
  for (const [path, v] of sets) {
    let at = root;
    for (const k of path.slice(0, -1)) {
      const next = Object.hasOwn(at, k) ? at[k] : undefined;
      if (typeof next !== 'object' || next === null || Array.isArray(next)) Object.defineProperty(at, k, { value: {}, enumerable: true, writable: true, configurable: true });
      at = at[k] as Record<string, unknown>;
    }
    Object.defineProperty(at, path.at(-1)!, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return root;
});

const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-config-fuzz-'));
const file = join(dir, 'config.yaml');

/** Loads `text` as the config file: a Config, or the error it must be. */
function load(text: string): void {
  writeFileSync(file, text);
  const before = Object.getOwnPropertyNames(Object.prototype).length;
  try {
    loadConfig(file);
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(BpfwasmError);
    const e = err as BpfwasmError;
    expect(e.code).toBe('CONFIG_INVALID');
    // `config: <key> …`, `config: the document …`, `config: <file> is not valid YAML: …`.
    expect(e.message).toMatch(/^config: (?:the document |\S+ )/);
  } finally {
    expect(Object.getOwnPropertyNames(Object.prototype).length).toBe(before);
  }
}

describe('config fuzz', () => {
  it('values of any type at any key: a config or CONFIG_INVALID naming the key', () => {
    fc.assert(fc.property(doc, (d) => load(stringify(d))), fuzzParameters(1500, 6));
  }, fuzzTimeout(6));

  it('any text as YAML: a config or CONFIG_INVALID naming the file', () => {
    const yamlish = fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(':', '\n', '  ', '- ', '{', '}', '[', ']', '&a', '*a', '!!binary', '<<: *a', '"', "'", '#', 'listen', 'api', 'sensors')), { maxLength: 30 })
      .map((parts) => parts.join(''));
    fc.assert(fc.property(yamlish, (text) => load(text)), fuzzParameters(1500, 4));
  }, fuzzTimeout(4));
});
