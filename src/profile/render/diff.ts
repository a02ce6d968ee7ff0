// Differential flamegraphs: the shape of `after`, coloured by how much each frame grew or shrank
// since `before`. `before` is first scaled to `after`'s total, so a longer or faster-sampled
// baseline compares by share of samples rather than raw count. Frames found only in `before`
// have no width in `after` and so do not appear.
import type { Profile } from '../model.js';
import { renderPage } from './html.js';
import { profileSummary, treeToSvg } from './svg.js';
import { buildTree, type FlameNode } from './tree.js';

/** Keeps JSON readable: scaled counts are fractions, and 1e-3 of a sample is noise. */
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function nodeKey(n: FlameNode): string {
  return `${n.libtype ?? ''}\0${n.name}`;
}

/**
 * `after`'s tree where every node also has `delta` = its inclusive value minus the matching
 * node's in `before` × (after total / before total); positive means it grew.
 */
export function diffTree(before: Profile, after: Profile): FlameNode {
  const b = buildTree(before.samples);
  const a = buildTree(after.samples);
  // An empty baseline makes every frame new: delta = value.
  const scale = b.value > 0 ? a.value / b.value : 0;
  const annotate = (node: FlameNode, old: FlameNode | undefined): FlameNode => {
    const olds = new Map(old?.children.map((c) => [nodeKey(c), c]));
    const { children, ...rest } = node;
    return {
      ...rest,
      delta: round3(node.value - scale * (old?.value ?? 0)),
      children: children.map((c) => annotate(c, olds.get(nodeKey(c)))),
    };
  };
  return annotate(a, b);
}

/** Red for growth, blue for shrinkage, stronger the larger the change relative to the frame. */
export function deltaColor(node: FlameNode): string {
  const delta = node.delta ?? 0;
  const v = Math.min(1, Math.abs(delta) / Math.max(node.value, Math.abs(delta), 1e-9));
  const fade = Math.round(220 * (1 - v));
  if (delta > 0) return `rgb(255,${fade},${fade})`;
  if (delta < 0) return `rgb(${fade},${fade},255)`;
  return 'rgb(220,220,220)';
}

function signed(x: number): string {
  return x > 0 ? `+${x}` : `${x}`;
}

function diffSummary(before: Profile, after: Profile): string {
  return `after ${profileSummary(after)} vs before ${profileSummary(before)}; before scaled to after's total`;
}

function diffWarnings(before: Profile, after: Profile): string[] {
  return [...before.warnings.map((w) => `before: ${w}`), ...after.warnings.map((w) => `after: ${w}`)];
}

export function renderDiffJson(before: Profile, after: Profile): Buffer {
  return Buffer.from(JSON.stringify(diffTree(before, after)));
}

export function renderDiffSvg(before: Profile, after: Profile): Buffer {
  return treeToSvg(diffTree(before, after), {
    title: 'Differential Flame Graph',
    subtitle: diffSummary(before, after),
    warnings: diffWarnings(before, after),
    color: deltaColor,
    describe: (n, pct) => `${n.name} (${n.value} samples, ${pct}%, ${signed(n.delta ?? 0)})`,
  });
}

export function renderDiffHtml(before: Profile, after: Profile): Buffer {
  return renderPage({
    title: 'Differential Flame Graph',
    summary: diffSummary(before, after),
    warnings: diffWarnings(before, after),
    tree: diffTree(before, after),
    differential: true,
  });
}
