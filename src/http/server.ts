// Assembles the HTTP server from route plugins; it holds no pipeline logic of its own.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BpfwasmError } from '../errors.js';
import { lazyValidators } from './lazy-validators.js';
import type { SeriesStore } from '../metrics/store.js';
import { federateRoute } from './routes/federate.js';
import { flamegraphRoute, type FlamegraphRouteOptions } from './routes/flamegraph.js';
import { healthRoutes, type Readiness } from './routes/health.js';
import { landingRoute, type LandingRouteOptions } from './routes/landing.js';
import { metricsRoute } from './routes/metrics.js';

export interface ServerDeps {
  logger?: Logger;
  store: SeriesStore;
  /** The shadow candidates' store, served at /metrics/shadow. */
  shadow?: () => SeriesStore;
  /** Brings values kept outside the store up to date; called before every serialization. */
  refresh(): Promise<void>;
  readiness(): Readiness;
  /** Added by /federate to each sample that lacks a label of that name; none when absent. */
  externalLabels?: Readonly<Record<string, string>>;
  /** On-demand CPU profiles (/flamegraph); not served when absent. */
  profiling?: FlamegraphRouteOptions;
  /** GET /, the landing page; not served when absent. */
  landing?: Omit<LandingRouteOptions, 'flamegraph'>;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Scrapes every few seconds would drown the log in request lines.
    logController: new LogController({ disableRequestLogging: true }),
    // An idle keep-alive connection (a scraper's pool, a browser's pre-connect) must not hold up
    // shutdown; a request in progress gets to finish its response.
    forceCloseConnections: 'idle',
    // Request schemas compile at their route's first request, not on the way to /readyz.
    schemaController: { compilersFactory: { buildValidator: lazyValidators() } },
  }) as unknown as FastifyInstance;
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err instanceof BpfwasmError ? err.statusCode : err.statusCode ?? 500;
    if (status >= 500) app.log.error({ err }, 'request failed');
    if (err instanceof BpfwasmError && err.retryAfterSeconds !== undefined) reply.header('Retry-After', String(err.retryAfterSeconds));
    return reply.code(status).send({ error: err.code ?? 'INTERNAL', message: err.message });
  });
  app.register(metricsRoute, { store: deps.store, shadow: deps.shadow, refresh: deps.refresh });
  app.register(federateRoute, { store: deps.store, refresh: deps.refresh, externalLabels: deps.externalLabels ?? {} });
  app.register(healthRoutes, { readiness: deps.readiness });
  if (deps.landing) app.register(landingRoute, { ...deps.landing, flamegraph: deps.profiling !== undefined });
  if (deps.profiling) app.register(flamegraphRoute, deps.profiling);
  return app;
}
