import { describe, expect, test } from 'vitest';
import { groupSamples } from '../../../src/profile/render/group.js';
import { renderFolded } from '../../../src/profile/render/folded.js';
import { buildTree } from '../../../src/profile/render/tree.js';
import { small } from './fixtures.js';

describe('groupSamples', () => {
  test('comm leaves the samples as they are: processes of one comm fold together', () => {
    expect(groupSamples(small.samples, 'comm')).toBe(small.samples);
    expect(buildTree(groupSamples(small.samples)).children.map((c) => [c.name, c.value])).toEqual([['app', 10], ['node', 1]]);
  });

  test('pid puts one `pid N` frame under each comm root, with that process share', () => {
    const app = buildTree(groupSamples(small.samples, 'pid')).children[0]!;
    expect(app.name).toBe('app');
    expect(app.children.map((c) => [c.name, c.value])).toEqual([['pid 10', 8], ['pid 11', 2]]);
    expect(renderFolded(groupSamples(small.samples, 'pid')).toString()).toBe(
      'app;pid 10;main;do_syscall_64 3\n' + 'app;pid 10;main;work 5\n' + 'app;pid 11;main;work 2\n' + 'node;pid 20;LazyCompile:*handler a.js:1 1\n',
    );
  });

  test('pid does not change the samples it was given (a stored profile is rendered again)', () => {
    const before = JSON.stringify(small.samples);
    groupSamples(small.samples, 'pid');
    expect(JSON.stringify(small.samples)).toBe(before);
  });
});
