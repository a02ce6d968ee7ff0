// The browser side of the interactive flamegraph (src/profile/render/html.ts), served from our
// own node_modules so the page works offline and sends no request to a CDN.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';

const require = createRequire(import.meta.url);

/**
 * A file in a package's dist/. Both packages' `exports` maps hide deep paths (d3/dist/d3.min.js
 * throws ERR_PACKAGE_PATH_NOT_EXPORTED), but both main entries live in dist/.
 */
function distFile(pkg: string, file: string): string {
  return join(dirname(require.resolve(pkg)), file);
}

/** URL path under /flamegraph/assets/ → the installed file and its content type. */
const ASSETS: Record<string, { path: string; contentType: string }> = {
  'd3.min.js': { path: distFile('d3', 'd3.min.js'), contentType: 'text/javascript; charset=utf-8' },
  'd3-flamegraph.min.js': { path: distFile('d3-flame-graph', 'd3-flamegraph.umd.min.js'), contentType: 'text/javascript; charset=utf-8' },
  'd3-flamegraph.css': { path: distFile('d3-flame-graph', 'd3-flamegraph.css'), contentType: 'text/css; charset=utf-8' },
};

/** The files change only with an upgrade (a restart): a day of caching, without pinning stale copies long. */
const CACHE_CONTROL = 'public, max-age=86400';

export const flamegraphAssets: FastifyPluginAsync = async (app) => {
  // Read once at registration: a missing package fails startup, not the first page view.
  for (const [name, { path, contentType }] of Object.entries(ASSETS)) {
    const body = readFileSync(path);
    app.get(`/flamegraph/assets/${name}`, async (_req, reply) =>
      reply.header('content-type', contentType).header('cache-control', CACHE_CONTROL).send(body),
    );
  }
};
