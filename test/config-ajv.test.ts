import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configChecker, validatedSchema } from '../src/config-ajv.js';
import { checkerFor, type SchemaNode } from '../src/config-errors.js';
import { ConfigSchema } from '../src/config-schema.js';
import { CONFIG_SCHEMA, validateConfig } from '../src/generated/config-validator.js';

const precompiled = checkerFor(CONFIG_SCHEMA as SchemaNode, validateConfig);
const compiled = configChecker(ConfigSchema);

/** What a checker makes of `doc`: the completed document or its error's message. */
function outcome(check: (doc: unknown) => unknown, doc: unknown): unknown {
  try {
    return check(structuredClone(doc));
  } catch (e) {
    return (e as Error).message;
  }
}

describe('the precompiled config validator', () => {
  it('was compiled from the schema as it is now', () => {
    expect(CONFIG_SCHEMA).toEqual(validatedSchema(ConfigSchema));
  });

  // One document per keyword, format and wording of the schema, and a good one with defaults.
  it.each([
    ['the defaults', {}],
    ['a good config', { listen: { port: 1 }, exporters: { settings: { x: { depth: 3 } }, oci: [{ name: 'a', ref: 'r.io/a:1' }] } }],
    ['a wrong top level', []],
    ['an unknown key', { nope: 1 }],
    ['a wrong type', { listen: { port: 'x' } }],
    ['a bound', { listen: { port: 70000 } }],
    ['an enum', { log: { level: 'loud' } }],
    ['a host format', { listen: { host: 'a b' } }],
    ['a host-port format', { api: { tcp: { listen: 'nope' } } }],
    ['an http-url format', { remoteWrite: { url: 'ftp://x' } }],
    ['a signal format', { sensors: { process: { logExitSignals: ['SIGNOPE'] } } }],
    ['powerOfTwo', { helper: { ringBytes: 5000 } }],
    ['ringSize', { sensors: { tcp: { ringBytes: 100 } } }],
    ['labelValue', { federate: { externalLabels: { node: 'a\u0000b' } } }],
    ['keyPattern', { log: { loki: { labels: { level: 'x' } } } }],
    ['registryHost', { exporters: { registries: { 'a b': {} } } }],
    ['ociReference', { exporters: { oci: [{ name: 'a', ref: 'nope' }] } }],
    ['a required key', { exporters: { oci: [{ name: 'a' }] } }],
    ['a pattern', { exporters: { oci: [{ name: 'A B', ref: 'r.io/a:1' }] } }],
  ])('says what ajv compiled at run time says of %s', (_what, doc) => {
    expect(outcome(precompiled, doc)).toEqual(outcome(compiled, doc));
  });

  it('spares the collector loading TypeBox and ajv', () => {
    // A resolve hook lists every module `import('dist/src/config.js')` loads (npm run build first).
    const hook = `data:text/javascript,export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('loads ' + r.url + '\\n'); return r; }`;
    const config = resolve(import.meta.dirname, '../dist/src/config.js');
    const { stderr, status } = spawnSync(process.execPath, [
      '--import', `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(hook)});`,
      '--input-type=module', '-e', `await (await import(${JSON.stringify(config)})).buildConfig({});`,
    ], { encoding: 'utf8' });
    expect(status, stderr).toBe(0);
    expect(stderr).toContain('/dist/src/generated/config-validator.js');
    // ajv's code needs only its small runtime helpers (ajv/dist/runtime/*), not ajv.
    expect(stderr).not.toMatch(/@sinclair\/typebox|node_modules\/ajv\/(?!dist\/runtime\/)/);
  });
});
