import { describe, expect, test } from 'vitest';
import { inlineAssets } from '../../../src/profile/render/assets.js';
import { renderHtml } from '../../../src/profile/render/html.js';
import { buildTree } from '../../../src/profile/render/tree.js';
import { embeddedTree, proc, profile, small, user } from './fixtures.js';

describe('html', () => {
  const html = renderHtml(small).toString();

  test('inlines d3, d3-flame-graph and its CSS: the page loads nothing (opens from disk)', () => {
    const assets = inlineAssets();
    expect(html).toContain(`<script>${assets.d3}</script>`);
    expect(html).toContain(`<script>${assets.flamegraph}</script>`);
    expect(html).toContain(`<style>${assets.css}</style>`);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
  });

  test('has the controls, the summary and the warnings', () => {
    for (const id of ['chart', 'search', 'search-button', 'reset', 'details', 'top']) expect(html).toContain(`id="${id}"`);
    expect(html).toContain('11 samples at 99 Hz over 10 s');
    expect(html).toContain('<li>user stacks are short: binaries lack frame pointers</li>');
    expect(html).toContain('.minFrameSize(');
    expect(html).toContain('flamegraph.default()');
    expect(html).toContain('flamegraph.tooltip.defaultFlamegraphTooltip()');
    expect(embeddedTree(html)).toEqual(buildTree(small.samples));
  });

  test('the page script is valid JavaScript', () => {
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(3); // d3, d3-flame-graph, the page's own
    expect(() => new Function(scripts[2]![1]!)).not.toThrow();
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
