// A server-rendered flamegraph SVG in flamegraph.pl's layout: the root (`all`) at the bottom,
// callees stacked above, 16 px rows, width proportional to inclusive samples. Like
// flamegraph.pl's, it carries a small inline script (click to zoom, search with the matched
// share, details on hover) that needs no network; a `<title>` per frame is the hover text where
// scripts do not run (an <img>). Frames under `minShare` of all samples are left out, so a
// whole-node picture opens on its wide frames and stays small.
import type { Profile } from '../model.js';
import { escapeXml } from './escape.js';
import { buildTree, type FlameNode } from './tree.js';

const IMAGE_WIDTH = 1200;
const FRAME_HEIGHT = 16;
const FONT_SIZE = 12;
/** Average glyph width as a fraction of the font size (flamegraph.pl's value for Verdana). */
const FONT_WIDTH = 0.59;
const X_PAD = 10;
/** Default narrowest frame drawn, as a share of all samples: 1.2 px at 1200 px. */
export const DEFAULT_MIN_SHARE = 0.001;
const TITLE_HEIGHT = FONT_SIZE * 3;
const LINE_HEIGHT = FONT_SIZE + 4;
const BOTTOM_PAD = FONT_SIZE * 2 + 10;

export interface SvgOptions {
  title: string;
  /** One line under the title: what was sampled, how, when. */
  subtitle: string;
  warnings: readonly string[];
  color(node: FlameNode): string;
  /** The hover text of a frame; `pct` is the share of the root, formatted. */
  describe(node: FlameNode, pct: string): string;
  /** Frames with less than this share of all samples are left out (0: draw every frame). */
  minShare?: number;
}

/** A stable 32-bit hash (FNV-1a), so a function keeps its colour across renders. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** flamegraph.pl's palettes: hot for user code, orange for kernel, green for JIT. */
export function kindColor(node: FlameNode): string {
  const h = hash(node.name);
  const v1 = (h & 0xff) / 255;
  const v2 = ((h >>> 8) & 0xff) / 255;
  const v3 = ((h >>> 16) & 0xff) / 255;
  if (node.libtype === 'kernel') return `rgb(${Math.round(190 + 65 * v1)},${Math.round(90 + 65 * v1)},0)`;
  if (node.libtype === 'jit') return `rgb(${Math.round(50 + 60 * v1)},${Math.round(200 + 55 * v1)},${Math.round(50 + 60 * v1)})`;
  return `rgb(${Math.round(205 + 50 * v3)},${Math.round(230 * v1)},${Math.round(55 * v2)})`;
}

/** A frame's label: as much of the name as fits, `..` marking a cut (flamegraph.pl's rule). */
function fitLabel(name: string, widthPx: number): string {
  const chars = Math.floor(widthPx / (FONT_SIZE * FONT_WIDTH));
  if (chars < 3) return '';
  return name.length <= chars ? name : `${name.slice(0, chars - 2)}..`;
}

export function treeToSvg(root: FlameNode, opts: SvgOptions): Buffer {
  const total = root.value;
  const scale = total > 0 ? (IMAGE_WIDTH - 2 * X_PAD) / total : 0;
  const minValue = total * (opts.minShare ?? DEFAULT_MIN_SHARE);
  // start: the frame's first sample on the root's axis, which the script zooms by.
  const frames: { node: FlameNode; depth: number; start: number; x: number; w: number }[] = [];
  let maxDepth = -1, omitted = 0;
  // Explicit stack: deep kernel+user stacks times many nodes should not depend on JS recursion.
  const todo: { node: FlameNode; depth: number; start: number }[] = total > 0 ? [{ node: root, depth: 0, start: 0 }] : [];
  while (todo.length > 0) {
    const { node, depth, start } = todo.pop()!;
    if (node.value < minValue || node.value === 0) {
      omitted++;
      continue;
    }
    frames.push({ node, depth, start, x: X_PAD + start * scale, w: node.value * scale });
    if (depth > maxDepth) maxDepth = depth;
    // Children start at the parent's left edge (the self time is the gap on the right) and
    // are pushed right to left so they come out left to right.
    const starts: number[] = [];
    let cs = start;
    for (const child of node.children) {
      starts.push(cs);
      cs += child.value;
    }
    for (let i = node.children.length - 1; i >= 0; i--) todo.push({ node: node.children[i]!, depth: depth + 1, start: starts[i]! });
  }

  const headerHeight = TITLE_HEIGHT + LINE_HEIGHT * (1 + opts.warnings.length);
  const height = headerHeight + (maxDepth + 1) * FRAME_HEIGHT + BOTTOM_PAD;
  const out: string[] = [
    '<?xml version="1.0" standalone="no"?>\n',
    `<svg version="1.1" width="${IMAGE_WIDTH}" height="${height}" viewBox="0 0 ${IMAGE_WIDTH} ${height}" xmlns="http://www.w3.org/2000/svg">\n`,
    '<defs><linearGradient id="background" y1="0" y2="1" x1="0" x2="0"><stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/></linearGradient></defs>\n',
    `<style>text { font-family: Verdana, sans-serif; font-size: ${FONT_SIZE}px; fill: rgb(0,0,0); } .title { font-size: 17px; } .warning { fill: rgb(160,0,0); } .control { cursor: pointer; fill: rgb(0,0,160); } g.f { cursor: pointer; } g.f text { pointer-events: none; }</style>\n`,
    `<rect x="0" y="0" width="${IMAGE_WIDTH}" height="${height}" fill="url(#background)"/>\n`,
    `<text class="title" x="${IMAGE_WIDTH / 2}" y="24" text-anchor="middle">${escapeXml(opts.title)}</text>\n`,
    `<text x="${IMAGE_WIDTH / 2}" y="${TITLE_HEIGHT + FONT_SIZE}" text-anchor="middle">${escapeXml(opts.subtitle)}</text>\n`,
    `<text id="reset" class="control" x="${X_PAD}" y="24" visibility="hidden">Reset Zoom</text>\n`,
    `<text id="search" class="control" x="${IMAGE_WIDTH - X_PAD}" y="24" text-anchor="end">Search</text>\n`,
  ];
  opts.warnings.forEach((w, i) => {
    out.push(`<text class="warning" x="${X_PAD}" y="${TITLE_HEIGHT + LINE_HEIGHT * (i + 1) + FONT_SIZE}">${escapeXml(w)}</text>\n`);
  });
  if (total === 0) out.push(`<text x="${IMAGE_WIDTH / 2}" y="${headerHeight + FONT_SIZE}" text-anchor="middle">No samples</text>\n`);
  const bottom = height - BOTTOM_PAD;
  for (const { node, depth, start, x, w } of frames) {
    const y = bottom - (depth + 1) * FRAME_HEIGHT;
    const pct = ((node.value / total) * 100).toFixed(2);
    const label = fitLabel(node.name, w);
    out.push(
      `<g class="f" data-depth="${depth}" data-start="${start}" data-value="${node.value}"><title>${escapeXml(opts.describe(node, pct))}</title>`,
      `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${FRAME_HEIGHT - 1}" fill="${opts.color(node)}" rx="2" ry="2"/>`,
      label ? `<text x="${(x + 3).toFixed(1)}" y="${y + FRAME_HEIGHT - 4}">${escapeXml(label)}</text>` : '',
      '</g>\n',
    );
  }
  const note = omitted > 0 ? `${omitted} frames under ${(100 * (opts.minShare ?? DEFAULT_MIN_SHARE)).toFixed(2)}% of samples left out (minShare)` : '';
  out.push(
    `<text id="details" x="${X_PAD}" y="${height - FONT_SIZE}">${escapeXml(note)}</text>\n`,
    `<text id="matched" x="${IMAGE_WIDTH - X_PAD}" y="${height - FONT_SIZE}" text-anchor="end"></text>\n`,
    `<script><![CDATA[${svgScript(total)}]]></script>\n`,
    '</svg>\n',
  );
  return Buffer.from(out.join(''));
}

/** The SVG's own script (plain ES5, no network): zoom, search with the matched share, details. */
function svgScript(total: number): string {
  return `
(function () {
  var W = ${IMAGE_WIDTH}, PAD = ${X_PAD}, GLYPH = ${FONT_SIZE * FONT_WIDTH}, TOTAL = ${total}, MATCH = 'rgb(230,0,230)';
  var NS = 'http://www.w3.org/2000/svg';
  var frames = [].slice.call(document.querySelectorAll('g.f')).map(function (g) {
    var title = g.querySelector('title').textContent;
    var rect = g.querySelector('rect');
    var text = g.querySelector('text');
    if (!text) {
      text = document.createElementNS(NS, 'text');
      text.setAttribute('y', +rect.getAttribute('y') + ${FRAME_HEIGHT - 4});
      g.appendChild(text);
    }
    return { g: g, rect: rect, text: text, fill: rect.getAttribute('fill'), title: title,
      name: title.slice(0, title.lastIndexOf(' (')), depth: +g.getAttribute('data-depth'),
      start: +g.getAttribute('data-start'), value: +g.getAttribute('data-value') };
  });
  var details = document.getElementById('details'), note = details.textContent;
  var reset = document.getElementById('reset');
  function label(f, w) {
    var chars = Math.floor(w / GLYPH);
    f.text.textContent = chars < 3 ? '' : f.name.length <= chars ? f.name : f.name.slice(0, chars - 2) + '..';
  }
  function zoom(z) {
    var scale = (W - 2 * PAD) / z.value;
    frames.forEach(function (f) {
      var inside = f.start >= z.start && f.start + f.value <= z.start + z.value;
      var above = f.depth < z.depth && f.start <= z.start && f.start + f.value >= z.start + z.value;
      var x = PAD, w = W - 2 * PAD;
      if (inside && f.depth >= z.depth) { x = PAD + (f.start - z.start) * scale; w = f.value * scale; }
      f.g.style.display = inside || above ? '' : 'none';
      f.g.style.opacity = above ? '0.5' : '';
      f.rect.setAttribute('x', x.toFixed(1));
      f.rect.setAttribute('width', w.toFixed(1));
      f.text.setAttribute('x', (x + 3).toFixed(1));
      label(f, w);
    });
    reset.setAttribute('visibility', z.depth > 0 ? 'visible' : 'hidden');
  }
  function search(term) {
    var spans = [];
    term = (term || '').toLowerCase();
    frames.forEach(function (f) {
      var hit = term !== '' && f.name.toLowerCase().indexOf(term) !== -1;
      f.rect.setAttribute('fill', hit ? MATCH : f.fill);
      if (hit) spans.push([f.start, f.start + f.value]);
    });
    // Nested matches cover the same samples: the union of their spans is the matched share.
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var covered = 0, end = -1;
    spans.forEach(function (s) {
      if (s[1] <= end) return;
      covered += s[1] - Math.max(s[0], end);
      end = s[1];
    });
    document.getElementById('matched').textContent = term === '' ? '' : 'Matched: ' + (TOTAL > 0 ? (100 * covered / TOTAL).toFixed(1) : '0.0') + '%';
    document.documentElement.setAttribute('data-matched-samples', String(covered));
  }
  frames.forEach(function (f) {
    f.g.addEventListener('click', function () { zoom(f); });
    f.g.addEventListener('mouseover', function () { details.textContent = f.title; });
    f.g.addEventListener('mouseout', function () { details.textContent = note; });
  });
  reset.addEventListener('click', function () { if (frames.length) zoom(frames[0]); });
  document.getElementById('search').addEventListener('click', function () {
    var term = prompt('Search frames (substring; empty clears)', '');
    if (term !== null) search(term);
  });
  document.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === 'f') { e.preventDefault(); document.getElementById('search').dispatchEvent(new MouseEvent('click')); }
    if (e.key === 'Escape') { search(''); if (frames.length) zoom(frames[0]); }
  });
  window.flamegraphSearch = search;
})();
`;
}

/** The subtitle shared by every rendering of a profile. */
export function profileSummary(p: Profile): string {
  return `${p.totalSamples} samples at ${p.hz} Hz over ${p.seconds} s, started ${new Date(p.startedAt).toISOString()} (profile ${p.id})`;
}

export function renderSvg(profile: Profile, minShare?: number): Buffer {
  return treeToSvg(buildTree(profile.samples), {
    minShare,
    title: 'Flame Graph',
    subtitle: profileSummary(profile),
    warnings: profile.warnings,
    color: kindColor,
    describe: (n, pct) => `${n.name} (${n.value} samples, ${pct}%)`,
  });
}
