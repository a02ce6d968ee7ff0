import { describe, expect, test } from 'vitest';
import { renderFolded } from '../../../src/profile/render/folded.js';
import { buildTree, renderTreeJson } from '../../../src/profile/render/tree.js';
import { kernel, proc, small, user } from './fixtures.js';

describe('folded', () => {
  test('merges equal stacks across pids and sorts the lines', () => {
    expect(renderFolded(small.samples).toString()).toBe(
      'app;main;do_syscall_64 3\n' + 'app;main;work 7\n' + 'node;LazyCompile:*handler a.js:1 1\n',
    );
  });

  test('separators and line breaks inside names cannot split frames or lines', () => {
    const samples = [{ pid: 1, comm: 'a', frames: [proc('a'), user('x;y'), user('multi\r\nline\nname')], count: 2 }];
    expect(renderFolded(samples).toString()).toBe('a;x:y;multi line name 2\n');
  });

  test('empty and zero-count samples fold to nothing', () => {
    expect(renderFolded([]).toString()).toBe('');
    expect(renderFolded([{ pid: 1, comm: 'a', frames: [proc('a')], count: 0 }]).toString()).toBe('');
  });
});

describe('tree', () => {
  test('golden d3-flame-graph JSON: inclusive values, libtype, children by name', () => {
    expect(JSON.parse(renderTreeJson(small.samples).toString())).toEqual({
      name: 'all',
      value: 11,
      children: [
        {
          name: 'app',
          value: 10,
          children: [
            {
              name: 'main',
              value: 10,
              children: [
                { name: 'do_syscall_64', value: 3, libtype: 'kernel', children: [] },
                { name: 'work', value: 7, children: [] },
              ],
            },
          ],
        },
        { name: 'node', value: 1, children: [{ name: 'LazyCompile:*handler a.js:1', value: 1, libtype: 'jit', children: [] }] },
      ],
    });
  });

  test('the same name as user and kernel frame stays two nodes, in a fixed order', () => {
    const t = buildTree([
      { pid: 1, comm: 'a', frames: [proc('a'), user('[unknown]')], count: 1 },
      { pid: 1, comm: 'a', frames: [proc('a'), kernel('[unknown]')], count: 2 },
    ]);
    expect(t.children[0]!.children.map((c) => [c.name, c.value, c.libtype])).toEqual([
      ['[unknown]', 2, 'kernel'],
      ['[unknown]', 1, undefined],
    ]);
  });

  test('no samples: a bare root', () => {
    expect(buildTree([])).toEqual({ name: 'all', value: 0, children: [] });
  });
});
