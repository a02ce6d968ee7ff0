// GET /federate?match[]=…: the samples any of the series selectors match, as Prometheus' own
// /federate serves them, plus external labels a series lacks. Unlike Prometheus, which writes
// every family as `untyped`, the families keep their HELP and TYPE.
import type { FastifyPluginAsync } from 'fastify';
import { BpfwasmError } from '../../errors.js';
import { federationFilter } from '../../metrics/federation.js';
import { negotiate, serialize } from '../../metrics/formats.js';
import { parseSelector, SelectorError, type Matcher } from '../../metrics/selector.js';
import type { SeriesStore } from '../../metrics/store.js';
import { sendExposition } from '../compress.js';

export interface FederateRouteOptions {
  store: SeriesStore;
  /** Brings values kept outside the store up to date before serializing. */
  refresh(): Promise<void>;
  /** Added to each federated sample that lacks a label of that name. */
  externalLabels: Readonly<Record<string, string>>;
}

function parseAll(texts: readonly string[]): Matcher[][] {
  try {
    return texts.map(parseSelector);
  } catch (err) {
    if (err instanceof SelectorError) throw new BpfwasmError('SELECTOR_INVALID', err.message);
    throw err;
  }
}

export const federateRoute: FastifyPluginAsync<FederateRouteOptions> = async (app, opts) => {
  // Sorted by name, as Prometheus writes them.
  const externalLabels = Object.entries(opts.externalLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  app.get('/federate', async (req, reply) => {
    const match = (req.query as Record<string, string | string[] | undefined>)['match[]'];
    // No match[] is no selector: an empty 200, as Prometheus answers.
    const selectors = parseAll(match === undefined ? [] : Array.isArray(match) ? match : [match]);
    await opts.refresh();
    // Prometheus' federation speaks text and protobuf, never OpenMetrics.
    const { format, contentType } = negotiate(req.headers.accept, { openMetrics: false });
    const include = federationFilter(opts.store, selectors);
    return sendExposition(req, reply, contentType, serialize(format, opts.store, { include, externalLabels }));
  });
};
