// GET /metrics: every series in the store, in the format the scraper's Accept header asks for.
import type { FastifyPluginAsync } from 'fastify';
import { negotiate, serialize } from '../../metrics/formats.js';
import type { SeriesStore } from '../../metrics/store.js';
import { sendExposition } from '../compress.js';

export interface MetricsRouteOptions {
  store: SeriesStore;
  /** Shadow candidates' series (exporter rollouts), served at /metrics/shadow; not served when absent. */
  shadow?: () => SeriesStore;
  /** Brings values kept outside the store up to date before serializing. */
  refresh(): Promise<void>;
}

export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, opts) => {
  app.get('/metrics', async (req, reply) => {
    await opts.refresh();
    const { format, contentType } = negotiate(req.headers.accept);
    return sendExposition(req, reply, contentType, await serialize(format, opts.store));
  });
  const shadow = opts.shadow;
  if (shadow) {
    app.get('/metrics/shadow', async (req, reply) => {
      await opts.refresh();
      const { format, contentType } = negotiate(req.headers.accept);
      return sendExposition(req, reply, contentType, await serialize(format, shadow()));
    });
  }
};
