import { describe, expect, test } from 'vitest';
import { deltaColor, diffTree } from '../../../src/profile/render/diff.js';
import { renderDiff } from '../../../src/profile/render/index.js';
import { buildTree } from '../../../src/profile/render/tree.js';
import { embeddedTree, kernel, proc, profile, user } from './fixtures.js';
import { assertWellFormedXml } from './xml-check.js';

// Before: 100 samples, 80% in work. After: 200 samples, 50% in work, and a new kernel frame.
const before = profile(
  [
    { pid: 1, comm: 'a', frames: [proc('a'), user('main'), user('work')], count: 80 },
    { pid: 1, comm: 'a', frames: [proc('a'), user('main'), user('gone')], count: 20 },
  ],
  { id: 'b' },
);
const after = profile(
  [
    { pid: 1, comm: 'a', frames: [proc('a'), user('main'), user('work')], count: 100 },
    { pid: 1, comm: 'a', frames: [proc('a'), user('main'), kernel('new')], count: 100 },
  ],
  { id: 'c', warnings: ['w'] },
);

describe('diff', () => {
  test('deltas against the baseline scaled to equal totals (×2 here)', () => {
    expect(diffTree(before, after)).toEqual({
      name: 'all',
      value: 200,
      delta: 0,
      children: [
        {
          name: 'a',
          value: 200,
          delta: 0,
          children: [
            {
              name: 'main',
              value: 200,
              delta: 0,
              children: [
                { name: 'new', value: 100, libtype: 'kernel', delta: 100, children: [] },
                { name: 'work', value: 100, delta: -60, children: [] },
              ],
            },
          ],
        },
      ],
    });
  });

  test('an empty baseline makes everything new', () => {
    expect(diffTree(profile([]), after).delta).toBe(200);
  });

  test('colours: red grew, blue shrank, grey unchanged', () => {
    expect(deltaColor({ name: 'x', value: 100, delta: 100, children: [] })).toBe('rgb(255,0,0)');
    expect(deltaColor({ name: 'x', value: 100, delta: -50, children: [] })).toBe('rgb(110,110,255)');
    expect(deltaColor({ name: 'x', value: 100, delta: 0, children: [] })).toBe('rgb(220,220,220)');
  });

  test('json, svg and html', () => {
    const json = renderDiff('json', before, after);
    expect(json.contentType).toBe('application/json');
    expect(json.filename).toBe('diff-b-c.json');
    expect(JSON.parse(json.body.toString())).toEqual(diffTree(before, after));

    const svg = renderDiff('svg', before, after).body.toString();
    assertWellFormedXml(svg);
    expect(svg).toContain('<title>new (100 samples, 50.00%, +100)</title><rect x="10.0" y="68" width="590.0" height="15" fill="rgb(255,0,0)"');
    expect(svg).toContain('<title>work (100 samples, 50.00%, -60)</title><rect x="600.0" y="68" width="590.0" height="15" fill="rgb(88,88,255)"');
    expect(svg).toContain('after: w');

    const html = renderDiff('html', before, after).body.toString();
    expect(html).toContain('data-differential="true"');
    expect(html).toContain('flamegraph.colorMapper.differentialColorMapper');
    expect(embeddedTree(html)).toEqual(diffTree(before, after));
    expect(buildTree(after.samples).value).toBe(200);
  });
});
