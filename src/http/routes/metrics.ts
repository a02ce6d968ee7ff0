// GET /metrics: exporter series and the collector's own metrics in text format 0.0.4.
import type { FastifyPluginAsync } from 'fastify';
import { TEXT_CONTENT_TYPE } from '../../metrics/exposition.js';

export interface MetricsRouteOptions {
  /** Renders the whole exposition; called once per scrape. */
  render(): Promise<string>;
}

export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, opts) => {
  app.get('/metrics', {
    schema: { response: { 200: { type: 'string' } } },
  }, async (_req, reply) => {
    const body = await opts.render();
    return reply.type(TEXT_CONTENT_TYPE).send(body);
  });
};
