// Request schemas compile at their route's first request, with Fastify's own validators: coercion,
// defaults and the messages a bad request gets are those of the default compiler.
import { AjvCompiler } from '@fastify/ajv-compiler';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { lazyValidators } from '../../src/http/lazy-validators.js';

const query = {
  type: 'object',
  properties: { seconds: { type: 'integer', minimum: 1, maximum: 300 }, hz: { type: 'integer', default: 99 } },
  required: ['seconds'],
} as const;

/** The app with lazy validators, counting the validators Fastify's compiler builds. */
function app(): { app: FastifyInstance; built: () => number } {
  const ajv = AjvCompiler();
  let built = 0;
  const counting: typeof ajv = (externalSchemas, options) => {
    const compile = ajv(externalSchemas, options);
    return (route) => {
      built++;
      return compile(route);
    };
  };
  const a = Fastify({ schemaController: { compilersFactory: { buildValidator: lazyValidators(counting) } } });
  a.get('/p', { schema: { querystring: query } }, async (req) => req.query);
  a.get('/other', { schema: { querystring: query } }, async () => 'ok');
  return { app: a, built: () => built };
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('lazyValidators', () => {
  it('builds no validator while the server starts, then one per route at its first request', async () => {
    const { app: a, built } = app();
    apps.push(a);
    await a.ready();
    expect(built()).toBe(0);
    expect((await a.inject('/p?seconds=5')).statusCode).toBe(200);
    expect(built()).toBe(1);
    await a.inject('/p?seconds=6');
    expect(built()).toBe(1); // kept
  });

  it('answers as the default compiler does: coerced values, defaults, and its errors', async () => {
    const { app: lazy } = app();
    const eager = Fastify();
    eager.get('/p', { schema: { querystring: query } }, async (req) => req.query);
    apps.push(lazy, eager);
    for (const url of ['/p?seconds=5', '/p?seconds=5&hz=7', '/p?seconds=0', '/p?seconds=x', '/p']) {
      const [l, e] = await Promise.all([lazy.inject(url), eager.inject(url)]);
      expect([l.statusCode, l.json()], url).toEqual([e.statusCode, e.json()]);
    }
    expect((await lazy.inject('/p?seconds=5')).json()).toEqual({ seconds: 5, hz: 99 });
    expect((await lazy.inject('/p?seconds=0')).json().message).toBe('querystring/seconds must be >= 1');
  });
});
