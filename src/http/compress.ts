// Sends exposition bodies (/metrics, /federate), gzip-compressed when the client accepts it,
// as Prometheus always does: scrape bodies are repetitive text and shrink ~10×.
import { promisify } from 'node:util';
import { constants, gzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

const gzipAsync = promisify(gzip);

/** Whether an Accept-Encoding header allows gzip: `gzip` (or `x-gzip`, or `*`) with q > 0. */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let wildcard = false;
  for (const item of header.split(',')) {
    const [coding = '', ...params] = item.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const ok = q === undefined || Number(q.slice(2)) > 0;
    if (coding === 'gzip' || coding === 'x-gzip') return ok;
    if (coding === '*') wildcard = ok;
  }
  return wildcard;
}

export async function sendExposition(req: FastifyRequest, reply: FastifyReply, contentType: string,
  body: Buffer): Promise<FastifyReply> {
  // The body depends on both headers: caches must key on them.
  reply.type(contentType).header('vary', 'Accept, Accept-Encoding');
  if (!acceptsGzip(req.headers['accept-encoding'])) return reply.send(body);
  // Fastest level: most of the ratio for a fraction of the CPU of the default, on every scrape.
  const compressed = await gzipAsync(body, { level: constants.Z_BEST_SPEED });
  return reply.header('content-encoding', 'gzip').send(compressed);
}
