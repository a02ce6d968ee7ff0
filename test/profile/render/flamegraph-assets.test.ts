import Fastify from 'fastify';
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { flamegraphAssets } from '../../../src/http/routes/flamegraph-assets.js';

const app = Fastify();
await app.register(flamegraphAssets);
afterAll(() => app.close());

test.each([
  ['d3.min.js', 'text/javascript; charset=utf-8', 'node_modules/d3/dist/d3.min.js'],
  ['d3-flamegraph.min.js', 'text/javascript; charset=utf-8', 'node_modules/d3-flame-graph/dist/d3-flamegraph.umd.min.js'],
  ['d3-flamegraph.css', 'text/css; charset=utf-8', 'node_modules/d3-flame-graph/dist/d3-flamegraph.css'],
])('serves %s', async (name, type, file) => {
  const res = await app.inject({ url: `/flamegraph/assets/${name}` });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe(type);
  expect(res.headers['cache-control']).toBe('public, max-age=86400');
  expect(res.rawPayload.equals(readFileSync(file))).toBe(true);
});

test('serves nothing else', async () => {
  expect((await app.inject({ url: '/flamegraph/assets/d3.js' })).statusCode).toBe(404);
  expect((await app.inject({ url: '/flamegraph/assets/../../package.json' })).statusCode).toBe(404);
});
