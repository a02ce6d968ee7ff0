// Which samples /federate returns: those any selector matches, judged on the series as a
// Prometheus that scraped /metrics with `honor_labels: true` stores them (name, exported labels,
// `le` for buckets). `job`/`instance` are the scraper's, not ours, so they count as absent here.
import { BpfwasmError } from '../errors.js';
import { formatValue, type SamplePart, type SerializeOptions } from './exposition.js';
import type { Matcher } from './selector.js';
import type { MetricFamily, SeriesStore } from './store.js';

/** One selector's remaining work for one family, after what is constant per family was decided. */
export interface Plan {
  /** Per sample part: whether the sample's name (and an absent `le`) passes. */
  parts: Record<SamplePart, boolean>;
  /** Matchers on the family's own labels, with the label's index in `seriesValues`. */
  labels: { index: number; matcher: Matcher }[];
  /** Matchers on a histogram bucket's `le`. */
  le: Matcher[];
}

function allMatch(matchers: readonly Matcher[], value: string): boolean {
  for (let i = 0; i < matchers.length; i++) if (!matchers[i]!.matches(value)) return false;
  return true;
}

/** The plan of a selector for a family, or undefined when it matches none of the family's samples. */
function plan(family: MetricFamily, selector: readonly Matcher[]): Plan | undefined {
  const { name, kind, labelNames } = family.spec;
  const histogram = kind === 'histogram';
  const names = selector.filter((m) => m.name === '__name__');
  const le = histogram ? selector.filter((m) => m.name === 'le') : [];
  const labels: Plan['labels'] = [];
  for (const matcher of selector) {
    if (matcher.name === '__name__' || (histogram && matcher.name === 'le')) continue;
    const index = labelNames.indexOf(matcher.name);
    if (index >= 0) labels.push({ index, matcher });
    else if (!matcher.matches('')) return undefined; // a label no series of the family has
  }
  const noLe = allMatch(le, '');
  const parts: Record<SamplePart, boolean> = histogram
    ? {
      value: false,
      bucket: allMatch(names, `${name}_bucket`),
      sum: noLe && allMatch(names, `${name}_sum`),
      count: noLe && allMatch(names, `${name}_count`),
    }
    : { value: allMatch(names, name), bucket: false, sum: false, count: false };
  return parts.value || parts.bucket || parts.sum || parts.count ? { parts, labels, le } : undefined;
}

/** Per family (by id), the plans of the selectors that match some of its samples. */
export type FederationPlans = readonly (readonly Plan[])[];

export function federationPlans(store: SeriesStore, selectors: readonly (readonly Matcher[])[]): FederationPlans {
  return store.families.map((f) =>
    selectors.filter((s) => s.length > 0).map((s) => plan(f, s)).filter((p): p is Plan => p !== undefined));
}

/**
 * The `includeFamily` filter for `serialize`: the families no selector can match any sample
 * of are skipped whole, not walked series by series (a narrow federation costs what it selects).
 */
export function federationFamilies(plans: FederationPlans): NonNullable<SerializeOptions['includeFamily']> {
  return (familyId) => (plans[familyId]?.length ?? 0) > 0;
}

/**
 * The `include` filter for `serialize`: a sample passes when all matchers of any one selector
 * match it. A selector without matchers selects nothing, as in Prometheus (its TSDB returns no
 * series for an empty matcher list), and so does an empty list of selectors.
 */
export function federationFilter(store: SeriesStore, selectors: readonly (readonly Matcher[])[],
  plans: FederationPlans = federationPlans(store, selectors)): NonNullable<SerializeOptions['include']> {
  // The serializer asks for each sample of a series in turn: label matchers run once per series.
  let lastSeries = -1;
  let current: readonly Plan[] = [];
  const labelsPass: boolean[] = [];
  return (sid, part, le) => {
    if (sid !== lastSeries) {
      lastSeries = sid;
      const family = store.familyOfSeries(sid);
      current = (family && plans[family.id]) ?? [];
      const values = store.seriesValues[sid]!;
      for (let i = 0; i < current.length; i++) {
        const labels = current[i]!.labels;
        let pass = true;
        for (let j = 0; pass && j < labels.length; j++) pass = labels[j]!.matcher.matches(values[labels[j]!.index]!);
        labelsPass[i] = pass;
      }
    }
    for (let i = 0; i < current.length; i++) {
      const p = current[i]!;
      if (labelsPass[i] && p.parts[part] && (part !== 'bucket' || allMatch(p.le, le!))) return true;
    }
    return false;
  };
}

/** How long matching may run at a time and in all for one request. */
export interface MatchBudget {
  /** The longest stretch of matching before the event loop gets a turn. */
  sliceMs: number;
  /** The matching time (summed over slices) after which the request fails. */
  totalMs: number;
  /** The clock, in ms (tests give a deterministic one). */
  now?: () => number;
}

export const MATCH_BUDGET: MatchBudget = { sliceMs: 5, totalMs: 1000 };

/** Each regex matcher with each distinct value the serializer can ask it about (results are cached). */
function* regexWork(store: SeriesStore, selectors: readonly (readonly Matcher[])[]): Generator<void> {
  const regexes = selectors.flat().filter((m) => m.isRegex);
  if (regexes.length === 0) return;
  for (const family of store.families) {
    const { name, kind, labelNames } = family.spec;
    const histogram = kind === 'histogram';
    for (const matcher of regexes) {
      matcher.matches('');
      yield;
      let values: Iterable<string>;
      if (matcher.name === '__name__') values = histogram ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
      else if (histogram && matcher.name === 'le') values = [...family.bounds].map(formatValue);
      else {
        const index = labelNames.indexOf(matcher.name);
        if (index < 0) continue;
        values = [...family.series].map((sid) => store.seriesValues[sid]![index]!);
      }
      for (const value of values) {
        matcher.matches(value);
        yield;
      }
    }
  }
}

/**
 * Runs the selectors' regexes on the store's label values ahead of `federationFilter`, in slices
 * between which the event loop runs, so that serializing only looks results up. Throws
 * SELECTOR_TIMEOUT once the matching time passes the budget.
 */
export async function matchAhead(store: SeriesStore, selectors: readonly (readonly Matcher[])[],
  budget: MatchBudget = MATCH_BUDGET): Promise<void> {
  const work = regexWork(store, selectors);
  const now = budget.now ?? (() => performance.now());
  let spent = 0;
  for (;;) {
    const start = now();
    const sliceEnd = start + Math.min(budget.sliceMs, budget.totalMs - spent);
    let done = false;
    while (!(done = work.next().done === true) && now() < sliceEnd);
    spent += now() - start;
    if (done) return;
    if (spent >= budget.totalMs) {
      throw new BpfwasmError('SELECTOR_TIMEOUT',
        `matching the selectors took more than ${budget.totalMs} ms; use fewer or simpler regexes`, { retryAfterSeconds: 1 });
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}
