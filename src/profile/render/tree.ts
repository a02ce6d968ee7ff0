// The d3-flame-graph JSON tree: `{name, value, children}` with inclusive values, one node per
// distinct frame under its parent, children in a deterministic order.
import type { FrameKind, StackSample } from '../model.js';

export interface FlameNode {
  name: string;
  /** Samples in this frame and everything it called (d3-flame-graph's default, inclusive). */
  value: number;
  /** d3-flame-graph colours these two kinds apart; absent for user and process frames. */
  libtype?: 'kernel' | 'jit';
  /** Differential graphs only: see diff.ts. */
  delta?: number;
  children: FlameNode[];
}

/** The tree under construction: children keyed so the same frame under one parent merges. */
interface Building {
  name: string;
  kind: FrameKind | 'root';
  value: number;
  children: Map<string, Building>;
}

export const ROOT_NAME = 'all';

/** The merged tree of `samples`, rooted at `all` whose value is the sum of their counts. */
export function buildTree(samples: readonly StackSample[]): FlameNode {
  const root: Building = { name: ROOT_NAME, kind: 'root', value: 0, children: new Map() };
  for (const s of samples) {
    if (s.count <= 0) continue;
    root.value += s.count;
    let node = root;
    for (const f of s.frames) {
      // Kind is part of the key so a user `[unknown]` and a kernel `[unknown]` stay apart.
      const key = `${f.kind}\0${f.name}`;
      let child = node.children.get(key);
      if (!child) {
        child = { name: f.name, kind: f.kind, value: 0, children: new Map() };
        node.children.set(key, child);
      }
      child.value += s.count;
      node = child;
    }
  }
  return freeze(root);
}

/** Code-unit order (not locale order) so the output is the same on every host. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function freeze(b: Building): FlameNode {
  const kids = [...b.children.values()].sort((x, y) => compareStrings(x.name, y.name) || compareStrings(x.kind, y.kind));
  const libtype = b.kind === 'kernel' || b.kind === 'jit' ? { libtype: b.kind } : {};
  return { name: b.name, value: b.value, ...libtype, children: kids.map(freeze) };
}

/**
 * The tree as d3-flame-graph JSON. With `warnings`, the root also carries them (d3-flame-graph
 * ignores the field) so a saved JSON still says what limited the profile.
 */
export function renderTreeJson(samples: readonly StackSample[], warnings?: readonly string[]): Buffer {
  const tree = buildTree(samples);
  return Buffer.from(JSON.stringify(warnings === undefined ? tree : { ...tree, warnings }));
}
