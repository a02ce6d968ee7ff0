// Folded stacks (`root;…;leaf count` per line), the input of flamegraph.pl, speedscope and
// inferno. Lines are merged and sorted so the same profile always folds to the same bytes.
import type { StackSample } from '../model.js';
import { compareStrings } from './tree.js';

/** `;` separates frames and a line break ends the line, so neither may appear inside a name. */
export function foldedName(name: string): string {
  return name.replace(/;/g, ':').replace(/[\r\n]+/g, ' ');
}

export function renderFolded(samples: readonly StackSample[]): Buffer {
  // Different pids of one comm fold to the same line: merge them.
  const counts = new Map<string, number>();
  for (const s of samples) {
    if (s.count <= 0 || s.frames.length === 0) continue;
    const line = s.frames.map((f) => foldedName(f.name)).join(';');
    counts.set(line, (counts.get(line) ?? 0) + s.count);
  }
  const lines = [...counts.keys()].sort(compareStrings);
  return Buffer.from(lines.map((l) => `${l} ${counts.get(l)}\n`).join(''));
}
