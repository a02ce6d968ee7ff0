// GET /federate?match[]=…: the samples any of the series selectors match, as Prometheus' own
// /federate serves them, plus external labels a series lacks. Unlike Prometheus, which writes
// every family as `untyped`, the families keep their HELP and TYPE.
import type { FastifyPluginAsync } from 'fastify';
import { BpfwasmError } from '../../errors.js';
import { federationFamilies, federationFilter, federationPlans, matchAhead } from '../../metrics/federation.js';
import { negotiate, serialize } from '../../metrics/formats.js';
import { parseSelector, RegexBudget, SelectorCostError, SelectorError, type Matcher } from '../../metrics/selector.js';
import type { SeriesStore } from '../../metrics/store.js';
import { sendExposition } from '../compress.js';

export interface FederateRouteOptions {
  store: SeriesStore;
  /** Brings values kept outside the store up to date before serializing. */
  refresh(): Promise<void>;
  /** Added to each federated sample that lacks a label of that name. */
  externalLabels: Readonly<Record<string, string>>;
}

/** What one request may send: far above a federation job's selectors, far below a DoS. */
export const SELECTOR_LIMITS = { count: 64, totalBytes: 16384 } as const;

/** Parses the selectors one at a time, letting the event loop run between two regex compiles. */
async function parseAll(texts: readonly string[]): Promise<Matcher[][]> {
  if (texts.length > SELECTOR_LIMITS.count) {
    throw new BpfwasmError('SELECTOR_TOO_COSTLY', `${texts.length} match[] selectors, more than the limit of ${SELECTOR_LIMITS.count}`);
  }
  const bytes = texts.reduce((sum, t) => sum + Buffer.byteLength(t), 0);
  if (bytes > SELECTOR_LIMITS.totalBytes) {
    throw new BpfwasmError('SELECTOR_TOO_COSTLY', `match[] selectors of ${bytes} bytes in all, more than the limit of ${SELECTOR_LIMITS.totalBytes}`);
  }
  const budget = new RegexBudget();
  const selectors: Matcher[][] = [];
  for (const text of texts) {
    try {
      selectors.push(parseSelector(text, budget));
    } catch (err) {
      if (err instanceof SelectorError) throw new BpfwasmError('SELECTOR_INVALID', err.message);
      if (err instanceof SelectorCostError) throw new BpfwasmError('SELECTOR_TOO_COSTLY', err.message);
      throw err;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return selectors;
}

export const federateRoute: FastifyPluginAsync<FederateRouteOptions> = async (app, opts) => {
  // Sorted by name, as Prometheus writes them.
  const externalLabels = Object.entries(opts.externalLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  app.get('/federate', async (req, reply) => {
    const match = (req.query as Record<string, string | string[] | undefined>)['match[]'];
    // No match[] is no selector: an empty 200, as Prometheus answers.
    const selectors = await parseAll(match === undefined ? [] : Array.isArray(match) ? match : [match]);
    await opts.refresh();
    // Prometheus' federation speaks text and protobuf, never OpenMetrics.
    const { format, contentType } = negotiate(req.headers.accept, { openMetrics: false });
    await matchAhead(opts.store, selectors);
    const plans = federationPlans(opts.store, selectors);
    const include = federationFilter(opts.store, selectors, plans);
    const includeFamily = federationFamilies(plans);
    return sendExposition(req, reply, contentType, await serialize(format, opts.store, { include, includeFamily, externalLabels }));
  });
};
