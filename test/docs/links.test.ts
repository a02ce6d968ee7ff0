// Every relative link in the project's Markdown resolves: to a file or folder of the tree, and a
// `#fragment` to a heading of its target (GitHub's anchors), so moving a section breaks no link.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', '*.md'], { cwd: root, encoding: 'utf8' })
  .split('\n').filter((f) => f && existsSync(join(root, f)));

/** The text outside fenced code blocks and inline code, where a link is a link. */
function prose(text: string): string {
  let fenced = false;
  return text.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) { fenced = !fenced; return ''; }
    return fenced ? '' : line.replace(/(`+)[\s\S]*?\1/g, '');
  }).join('\n');
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase()
  .replace(/<[^>]+>/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');

const anchorCache = new Map<string, Set<string>>();
function anchors(file: string): Set<string> {
  let found = anchorCache.get(file);
  if (!found) {
    found = new Set();
    const seen = new Map<string, number>();
    let fenced = false;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
      const h = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (!h) continue;
      const base = slug(h[1]!.replace(/`/g, ''));
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      found.add(n ? `${base}-${n}` : base);
    }
    anchorCache.set(file, found);
  }
  return found;
}

/** `[text](target)` and `[label]: target` links of `file` that point inside the tree. */
function links(file: string): string[] {
  const text = prose(readFileSync(join(root, file), 'utf8'));
  const targets = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g), ...text.matchAll(/^\s*\[[^\]]+\]:\s+(\S+)/gm)].map((m) => m[1]!);
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

function broken(file: string, target: string): string | undefined {
  const [path, fragment] = target.split('#', 2) as [string, string | undefined];
  const resolved = path ? resolve(root, dirname(file), decodeURIComponent(path)) : join(root, file);
  if (!resolved.startsWith(root)) return 'outside the repository';
  if (!existsSync(resolved)) return `${relative(root, resolved)} does not exist`;
  if (fragment === undefined || !resolved.endsWith('.md') || statSync(resolved).isDirectory()) return undefined;
  return anchors(resolved).has(fragment.toLowerCase()) ? undefined : `${relative(root, resolved)} has no heading #${fragment}`;
}

describe('Markdown links', () => {
  it('finds the project\'s Markdown', () => {
    expect(files).toContain('README.md');
    expect(files.length).toBeGreaterThan(20);
  });

  it.each(files)('every relative link of %s resolves', (file) => {
    const bad = links(file).flatMap((t) => { const why = broken(file, t); return why ? [`${t}: ${why}`] : []; });
    expect(bad).toEqual([]);
  });

  it.each([
    ['## /metrics formats', 'metrics-formats'],
    ['## Changing exporters live: hot reload and shadow rollout', 'changing-exporters-live-hot-reload-and-shadow-rollout'],
    ['### `GET /`', 'get-'],
    ['## The collector\'s own health', 'the-collectors-own-health'],
  ])('takes the anchor of %s as GitHub does', (heading, expected) => {
    expect(slug(heading.replace(/^#+\s+/, '').replace(/`/g, ''))).toBe(expected);
  });
});
