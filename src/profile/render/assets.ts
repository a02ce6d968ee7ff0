// The browser side of the interactive flamegraph (html.ts), read from our own node_modules and
// inlined into every page, so a saved page opens from disk with no network and no CDN.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/**
 * A file in a package's dist/. Both packages' `exports` maps hide deep paths (d3/dist/d3.min.js
 * throws ERR_PACKAGE_PATH_NOT_EXPORTED), but both main entries live in dist/.
 */
export function distFile(pkg: string, file: string): string {
  return join(dirname(require.resolve(pkg)), file);
}

/** Text safe inside a <script> or <style> element: "</" cannot close it early, "<!--" cannot open a comment state. */
export function inlineSafe(text: string): string {
  return text.replace(/<\/(script|style)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

export interface InlineAssets { d3: string; flamegraph: string; css: string }

let cached: InlineAssets | undefined;

/** Read once, on the first page rendered: ~300 KB that only profile users pay for. */
export function inlineAssets(): InlineAssets {
  cached ??= {
    d3: inlineSafe(readFileSync(distFile('d3', 'd3.min.js'), 'utf8')),
    flamegraph: inlineSafe(readFileSync(distFile('d3-flame-graph', 'd3-flamegraph.umd.min.js'), 'utf8')),
    css: inlineSafe(readFileSync(distFile('d3-flame-graph', 'd3-flamegraph.css'), 'utf8')),
  };
  return cached;
}
