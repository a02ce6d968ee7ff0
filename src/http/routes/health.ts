// Liveness and readiness. Ready means every enabled sensor is attached and the exporters loaded.
import type { FastifyPluginAsync } from 'fastify';

export interface Readiness {
  ready: boolean;
  /** What is still missing, for humans and for orchestrators' events. */
  waiting: string[];
}

export interface HealthRouteOptions {
  readiness(): Readiness;
}

const readinessSchema = {
  type: 'object',
  properties: { ready: { type: 'boolean' }, waiting: { type: 'array', items: { type: 'string' } } },
  required: ['ready', 'waiting'],
} as const;

export const healthRoutes: FastifyPluginAsync<HealthRouteOptions> = async (app, opts) => {
  app.get('/healthz', {
    schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: { response: { 200: readinessSchema, 503: readinessSchema } },
  }, async (_req, reply) => {
    const r = opts.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });
};
