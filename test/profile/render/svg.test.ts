import { describe, expect, test } from 'vitest';
import { renderSvg } from '../../../src/profile/render/svg.js';
import { bigProfile, kernel, proc, profile, user } from './fixtures.js';
import { assertWellFormedXml } from './xml-check.js';

const tiny = profile(
  [
    { pid: 1, comm: 'a&b', frames: [proc('a&b'), user('main<int>'), kernel('x')], count: 3 },
    { pid: 1, comm: 'a&b', frames: [proc('a&b'), user('main<int>')], count: 1 },
  ],
  { warnings: ['kptr_restrict=2: kernel "symbols" hidden'] },
);

describe('svg', () => {
  test('golden: root at the bottom, children from the left, escaped names and titles, controls', () => {
    const svg = renderSvg(tiny).toString();
    // The script is tested in the browser (test/integration/flamegraph-files.test.ts).
    expect(svg.replace(/<script><!\[CDATA\[[\s\S]*\]\]><\/script>\n/, '<script/>\n')).toBe(`<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="1200" height="166" viewBox="0 0 1200 166" xmlns="http://www.w3.org/2000/svg">
<defs><linearGradient id="background" y1="0" y2="1" x1="0" x2="0"><stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/></linearGradient></defs>
<style>text { font-family: Verdana, sans-serif; font-size: 12px; fill: rgb(0,0,0); } .title { font-size: 17px; } .warning { fill: rgb(160,0,0); } .control { cursor: pointer; fill: rgb(0,0,160); } g.f { cursor: pointer; } g.f text { pointer-events: none; }</style>
<rect x="0" y="0" width="1200" height="166" fill="url(#background)"/>
<text class="title" x="600" y="24" text-anchor="middle">Flame Graph</text>
<text x="600" y="48" text-anchor="middle">4 samples at 99 Hz over 10 s, started 2024-01-02T03:04:05.000Z (profile p1)</text>
<text id="reset" class="control" x="10" y="24" visibility="hidden">Reset Zoom</text>
<text id="search" class="control" x="1190" y="24" text-anchor="end">Search</text>
<text class="warning" x="10" y="64">kptr_restrict=2: kernel &quot;symbols&quot; hidden</text>
<g class="f" data-depth="0" data-start="0" data-value="4"><title>all (4 samples, 100.00%)</title><rect x="10.0" y="116" width="1180.0" height="15" fill="rgb(212,177,16)" rx="2" ry="2"/><text x="13.0" y="128">all</text></g>
<g class="f" data-depth="1" data-start="0" data-value="4"><title>a&amp;b (4 samples, 100.00%)</title><rect x="10.0" y="100" width="1180.0" height="15" fill="rgb(236,76,43)" rx="2" ry="2"/><text x="13.0" y="112">a&amp;b</text></g>
<g class="f" data-depth="2" data-start="0" data-value="4"><title>main&lt;int&gt; (4 samples, 100.00%)</title><rect x="10.0" y="84" width="1180.0" height="15" fill="rgb(253,116,10)" rx="2" ry="2"/><text x="13.0" y="96">main&lt;int&gt;</text></g>
<g class="f" data-depth="3" data-start="0" data-value="3"><title>x (3 samples, 75.00%)</title><rect x="10.0" y="68" width="885.0" height="15" fill="rgb(224,124,0)" rx="2" ry="2"/><text x="13.0" y="80">x</text></g>
<text id="details" x="10" y="154"></text>
<text id="matched" x="1190" y="154" text-anchor="end"></text>
<script/>
</svg>
`);
  });

  test('labels are cut to fit with "..", and frames under minShare are left out and counted', () => {
    const long = 'f'.repeat(50);
    const p = profile([
      { pid: 1, comm: 'a', frames: [proc('a'), user(long)], count: 60 }, // 0.06%
      { pid: 1, comm: 'a', frames: [proc('a'), user('tiny')], count: 8 }, // 0.008%
      { pid: 1, comm: 'a', frames: [proc('a'), user('wide')], count: 100_000 - 68 },
    ]);
    const byDefault = renderSvg(p).toString(); // 0.1%
    expect(byDefault).not.toContain(long);
    expect(byDefault).toContain('>2 frames under 0.10% of samples left out (minShare)</text>');
    const finer = renderSvg(p, 0.0005).toString();
    expect(finer).toContain(`<title>${long} (60 samples, 0.06%)</title>`);
    expect(finer).not.toContain('tiny');
    expect(renderSvg(p, 0).toString()).toContain('<title>tiny (8 samples, 0.01%)</title>');
    const q = profile([
      { pid: 1, comm: 'a', frames: [proc('a'), user(long)], count: 1 },
      { pid: 1, comm: 'a', frames: [proc('a'), user('z')], count: 4 },
    ]);
    // 236 px fit floor(236 / 7.08) = 33 characters: 31 of the name and "..".
    expect(renderSvg(q).toString()).toContain(`>${'f'.repeat(31)}..</text>`);
  });

  test('kinds get their palettes: orange kernel, green JIT', () => {
    const svg = renderSvg(
      profile([{ pid: 1, comm: 'n', frames: [proc('n'), { name: 'js', kind: 'jit' }, kernel('k')], count: 1 }]),
    ).toString();
    expect(svg).toMatch(/<title>js [^<]*<\/title><rect [^>]*fill="rgb\(\d+,2\d\d,\d+\)"/);
    expect(svg).toMatch(/<title>k [^<]*<\/title><rect [^>]*fill="rgb\(\d+,\d+,0\)"/);
  });

  test('an empty profile still renders, and says so', () => {
    const svg = renderSvg(profile([])).toString();
    assertWellFormedXml(svg);
    expect(svg).toContain('No samples');
  });

  test('a big random profile is well-formed XML', () => {
    const big = bigProfile(3000, 100_000, 3);
    big.samples[0]!.frames.push(user('<&>"\'\u0000\u0007\uD800\uFFFE]]>'));
    assertWellFormedXml(renderSvg(big).toString());
  });
});
