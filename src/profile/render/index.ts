// Every format a profile is served in: one entry point for the HTTP route and the CLI.
import type { Profile } from '../model.js';
import { renderDiffHtml, renderDiffJson, renderDiffSvg } from './diff.js';
import { renderFolded } from './folded.js';
import { type GroupBy, groupSamples } from './group.js';
import { renderHtml } from './html.js';
import { renderPprof } from './pprof.js';
import { renderSvg } from './svg.js';
import { renderTreeJson } from './tree.js';

export type ProfileFormat = 'html' | 'svg' | 'json' | 'folded' | 'pprof';
export type DiffFormat = 'html' | 'svg' | 'json';

export interface Rendered {
  contentType: string;
  body: Buffer;
  /** A download name (for Content-Disposition) with the format's usual extension. */
  filename: string;
}

const CONTENT_TYPE: Record<ProfileFormat, string> = {
  html: 'text/html; charset=utf-8',
  svg: 'image/svg+xml',
  json: 'application/json',
  folded: 'text/plain; charset=utf-8',
  pprof: 'application/octet-stream',
};

const EXTENSION: Record<ProfileFormat, string> = {
  html: 'html',
  svg: 'svg',
  json: 'json',
  folded: 'folded.txt',
  pprof: 'pb.gz',
};

/** Profile ids come from us, but a filename ends up in a header: keep it to safe characters. */
function safeId(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}

export interface RenderOptions {
  /** Frames under this share of all samples (0–1) are left out of the SVG. */
  minShare?: number;
  /** Split each comm's frames per pid (`pid N` under the process root); comm when absent. */
  groupBy?: GroupBy;
}

export function render(format: ProfileFormat, stored: Profile, opts: RenderOptions = {}): Rendered {
  const profile = { ...stored, samples: groupSamples(stored.samples, opts.groupBy) };
  const body = {
    html: renderHtml,
    svg: (p: Profile) => renderSvg(p, opts.minShare),
    json: (p: Profile) => renderTreeJson(p.samples, p.warnings),
    folded: (p: Profile) => renderFolded(p.samples),
    pprof: renderPprof,
  }[format](profile);
  return { contentType: CONTENT_TYPE[format], body, filename: `profile-${safeId(profile.id)}.${EXTENSION[format]}` };
}

export function renderDiff(format: DiffFormat, before: Profile, after: Profile): Rendered {
  const body = { html: renderDiffHtml, svg: renderDiffSvg, json: renderDiffJson }[format](before, after);
  return {
    contentType: CONTENT_TYPE[format],
    body,
    filename: `diff-${safeId(before.id)}-${safeId(after.id)}.${EXTENSION[format]}`,
  };
}
