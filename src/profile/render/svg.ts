// A server-rendered flamegraph SVG in flamegraph.pl's layout: the root (`all`) at the bottom,
// callees stacked above, 16 px rows, width proportional to inclusive samples. No script: a
// `<title>` per frame gives browsers a hover text, so the file is safe to open anywhere.
import type { Profile } from '../model.js';
import { escapeXml } from './escape.js';
import { buildTree, type FlameNode } from './tree.js';

const IMAGE_WIDTH = 1200;
const FRAME_HEIGHT = 16;
const FONT_SIZE = 12;
/** Average glyph width as a fraction of the font size (flamegraph.pl's value for Verdana). */
const FONT_WIDTH = 0.59;
const X_PAD = 10;
/** Frames narrower than this are invisible anyway; skipping them bounds the output size. */
const MIN_WIDTH_PX = 0.1;
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
  const frames: { node: FlameNode; depth: number; x: number; w: number }[] = [];
  let maxDepth = -1;
  // Explicit stack: deep kernel+user stacks times many nodes should not depend on JS recursion.
  const todo: { node: FlameNode; depth: number; x: number }[] = total > 0 ? [{ node: root, depth: 0, x: X_PAD }] : [];
  while (todo.length > 0) {
    const { node, depth, x } = todo.pop()!;
    const w = node.value * scale;
    if (w < MIN_WIDTH_PX) continue;
    frames.push({ node, depth, x, w });
    if (depth > maxDepth) maxDepth = depth;
    // Children start at the parent's left edge (the self time is the gap on the right) and
    // are pushed right to left so they come out left to right.
    const xs: number[] = [];
    let cx = x;
    for (const child of node.children) {
      xs.push(cx);
      cx += child.value * scale;
    }
    for (let i = node.children.length - 1; i >= 0; i--) todo.push({ node: node.children[i]!, depth: depth + 1, x: xs[i]! });
  }

  const headerHeight = TITLE_HEIGHT + LINE_HEIGHT * (1 + opts.warnings.length);
  const height = headerHeight + (maxDepth + 1) * FRAME_HEIGHT + BOTTOM_PAD;
  const out: string[] = [
    '<?xml version="1.0" standalone="no"?>\n',
    `<svg version="1.1" width="${IMAGE_WIDTH}" height="${height}" viewBox="0 0 ${IMAGE_WIDTH} ${height}" xmlns="http://www.w3.org/2000/svg">\n`,
    '<defs><linearGradient id="background" y1="0" y2="1" x1="0" x2="0"><stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/></linearGradient></defs>\n',
    `<style>text { font-family: Verdana, sans-serif; font-size: ${FONT_SIZE}px; fill: rgb(0,0,0); } .title { font-size: 17px; } .warning { fill: rgb(160,0,0); }</style>\n`,
    `<rect x="0" y="0" width="${IMAGE_WIDTH}" height="${height}" fill="url(#background)"/>\n`,
    `<text class="title" x="${IMAGE_WIDTH / 2}" y="24" text-anchor="middle">${escapeXml(opts.title)}</text>\n`,
    `<text x="${IMAGE_WIDTH / 2}" y="${TITLE_HEIGHT + FONT_SIZE}" text-anchor="middle">${escapeXml(opts.subtitle)}</text>\n`,
  ];
  opts.warnings.forEach((w, i) => {
    out.push(`<text class="warning" x="${X_PAD}" y="${TITLE_HEIGHT + LINE_HEIGHT * (i + 1) + FONT_SIZE}">${escapeXml(w)}</text>\n`);
  });
  if (total === 0) out.push(`<text x="${IMAGE_WIDTH / 2}" y="${headerHeight + FONT_SIZE}" text-anchor="middle">No samples</text>\n`);
  const bottom = height - BOTTOM_PAD;
  for (const { node, depth, x, w } of frames) {
    const y = bottom - (depth + 1) * FRAME_HEIGHT;
    const pct = ((node.value / total) * 100).toFixed(2);
    const label = fitLabel(node.name, w);
    out.push(
      `<g><title>${escapeXml(opts.describe(node, pct))}</title>`,
      `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${FRAME_HEIGHT - 1}" fill="${opts.color(node)}" rx="2" ry="2"/>`,
      label ? `<text x="${(x + 3).toFixed(1)}" y="${y + FRAME_HEIGHT - 4}">${escapeXml(label)}</text>` : '',
      '</g>\n',
    );
  }
  out.push('</svg>\n');
  return Buffer.from(out.join(''));
}

/** The subtitle shared by every rendering of a profile. */
export function profileSummary(p: Profile): string {
  return `${p.totalSamples} samples at ${p.hz} Hz over ${p.seconds} s, started ${new Date(p.startedAt).toISOString()} (profile ${p.id})`;
}

export function renderSvg(profile: Profile): Buffer {
  return treeToSvg(buildTree(profile.samples), {
    title: 'Flame Graph',
    subtitle: profileSummary(profile),
    warnings: profile.warnings,
    color: kindColor,
    describe: (n, pct) => `${n.name} (${n.value} samples, ${pct}%)`,
  });
}
