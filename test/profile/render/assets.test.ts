import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { inlineAssets, inlineSafe } from '../../../src/profile/render/assets.js';

test.each([
  ['d3', 'node_modules/d3/dist/d3.min.js'],
  ['flamegraph', 'node_modules/d3-flame-graph/dist/d3-flamegraph.umd.min.js'],
  ['css', 'node_modules/d3-flame-graph/dist/d3-flamegraph.css'],
] as const)('inlines %s from node_modules', (name, file) => {
  expect(inlineAssets()[name]).toBe(inlineSafe(readFileSync(file, 'utf8')));
});

test.each([
  ['a</script>b', 'a<\\/script>b'],
  ['x</STYLE>', 'x<\\/STYLE>'],
  ['if (a<!--b)', 'if (a<\\!--b)'],
  ['a < b && c > d', 'a < b && c > d'],
])('inlineSafe(%j) = %j', (input, output) => {
  expect(inlineSafe(input)).toBe(output);
});
