import { describe, expect, test } from 'vitest';
import { renderHtml } from '../../../src/profile/render/html.js';
import { buildTree } from '../../../src/profile/render/tree.js';
import { embeddedTree, proc, profile, small, user } from './fixtures.js';

describe('html', () => {
  const html = renderHtml(small).toString();

  test('loads d3 and d3-flame-graph from our own server, nothing from elsewhere', () => {
    expect(html).toContain('<script src="/flamegraph/assets/d3.min.js"></script>');
    expect(html).toContain('<script src="/flamegraph/assets/d3-flamegraph.min.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="/flamegraph/assets/d3-flamegraph.css">');
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/(src|href)="\/\//); // nor protocol-relative URLs
  });

  test('has the controls, the summary and the warnings', () => {
    for (const id of ['chart', 'search', 'search-button', 'reset', 'details']) expect(html).toContain(`id="${id}"`);
    expect(html).toContain('11 samples at 99 Hz over 10 s');
    expect(html).toContain('<li>user stacks are short: binaries lack frame pointers</li>');
    expect(html).toContain('.minFrameSize(');
    expect(html).toContain('flamegraph.default()');
    expect(html).toContain('flamegraph.tooltip.defaultFlamegraphTooltip()');
    expect(embeddedTree(html)).toEqual(buildTree(small.samples));
  });

  test('the page script is valid JavaScript', () => {
    const scripts = [...html.matchAll(/<script>([^]*?)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    expect(() => new Function(scripts[0]![1]!)).not.toThrow();
  });

  test('hostile frame names cannot end the script element or inject markup', () => {
    const evil = '</script><script>alert(1)</script>\u2028\u2029<!--';
    const p = profile([{ pid: 1, comm: '<b>x</b>', frames: [proc('<b>x</b>'), user(evil)], count: 1 }], {
      warnings: ['<img src=x onerror=alert(1)>'],
    });
    const page = renderHtml(p).toString();
    expect(page.match(/<\/script>/g)).toHaveLength(4); // the data block, two libraries, the page script
    expect(page).not.toContain('\u2028');
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(embeddedTree(page)).toEqual(buildTree(p.samples));
  });
});
