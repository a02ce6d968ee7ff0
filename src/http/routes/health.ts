// Liveness and readiness. Ready means every enabled sensor that can load is attached and the exporters
// loaded; the sensors left off are listed with their reason.
import type { FastifyPluginAsync } from 'fastify';

/** A sensor the helper left off: ready does not wait for it, and says why. */
export interface SensorOff { sensor: string; step: string; errno: number; reason: string; route?: string }

export interface Readiness {
  ready: boolean;
  /** What is still missing, for humans and for orchestrators' events. */
  waiting: string[];
  /** Sensors that failed to load or attach (not required ones: a required one stops start-up). */
  off?: SensorOff[];
}

export interface HealthRouteOptions {
  readiness(): Readiness;
}

const readinessSchema = {
  type: 'object',
  properties: {
    ready: { type: 'boolean' },
    waiting: { type: 'array', items: { type: 'string' } },
    off: {
      type: 'array',
      items: {
        type: 'object',
        properties: { sensor: { type: 'string' }, step: { type: 'string' }, errno: { type: 'integer' }, reason: { type: 'string' }, route: { type: 'string' } },
        required: ['sensor', 'step', 'errno', 'reason'],
      },
    },
  },
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
