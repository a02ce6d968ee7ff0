// The dashboards' queries, as Grafana would send them: every panel target and template variable
// of every dashboards/*.json, with Grafana's variables substituted, parsed with Prometheus's own
// lezer grammar (the one its UI uses).
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode, Tree } from '@lezer/common';

export const DASHBOARDS_DIR = resolve(import.meta.dirname, '../../dashboards');

export interface Target { refId: string; expr: string; format?: string; instant?: boolean; datasource?: unknown; legendFormat?: string }
export interface Link { title: string; url: string }
export interface Panel {
  id: number; type: string; title: string; datasource?: unknown; targets?: Target[]; links?: Link[];
  gridPos: { h: number; w: number; x: number; y: number }; panels?: Panel[];
}
export interface Variable { name: string; type: string; query: unknown; datasource?: unknown; includeAll?: boolean; allValue?: string }
export interface Dashboard {
  uid: string; title: string; schemaVersion: number; panels: Panel[]; links: (Link & { type: string })[];
  templating: { list: Variable[] }; tags: string[];
}

/** Every dashboards/*.json, parsed; a file that is not JSON fails with its name. */
export function loadDashboards(dir = DASHBOARDS_DIR): { file: string; dash: Dashboard }[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((file) => {
    try {
      return { file, dash: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard };
    } catch (err) {
      throw new Error(`dashboards/${file} does not parse: ${(err as Error).message}`);
    }
  });
}

/** Panels, rows' nested panels included, without the rows themselves. */
export function panelsOf(dash: Dashboard): Panel[] {
  return dash.panels.flatMap((p) => (p.type === 'row' ? p.panels ?? [] : [p]));
}

export interface Query {
  /** "dashboard › panel (refId)" or "dashboard › variable $name": what an error names. */
  where: string;
  /** The PromQL Grafana would send, before substitution. */
  expr: string;
  panel?: Panel;
  target?: Target;
  /** For a `label_values(selector, label)` variable: the label it lists. */
  label?: string;
}

/** Grafana's Prometheus variable functions: label_values(selector, label) and query_result(expr). */
function variableQuery(v: Variable): { expr: string; label?: string } {
  const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
  const lv = /^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(q);
  if (lv) return { expr: lv[1]!, label: lv[2]! };
  const qr = /^\s*query_result\((.*)\)\s*$/s.exec(q);
  if (qr) return { expr: qr[1]! };
  throw new Error(`variable $${v.name}: only label_values(selector, label) and query_result(expr) are checked, not ${q}`);
}

export function queriesOf(dash: Dashboard): Query[] {
  const out: Query[] = [];
  for (const v of dash.templating.list) {
    if (v.type !== 'query') continue;
    out.push({ where: `${dash.title} › variable $${v.name}`, ...variableQuery(v) });
  }
  for (const panel of panelsOf(dash)) {
    for (const target of panel.targets ?? []) {
      out.push({ where: `${dash.title} › ${panel.title} (${target.refId})`, expr: target.expr, panel, target });
    }
  }
  return out;
}

/** Replaces $name, ${name} and ${name:format} with `values[name]`; an unknown variable throws. */
export function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_m, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const v = values[name];
    if (v === undefined) throw new Error(`no value to substitute for $${name} in ${text}`);
    return v;
  });
}

export interface Parsed { tree: Tree; errors: string[] }

/** Parses with lezer-promql; each error node becomes "at N: …context…". */
export function parsePromQL(expr: string): Parsed {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  tree.iterate({
    enter(n) {
      if (n.type.isError) errors.push(`at ${n.from}: ${JSON.stringify(expr.slice(Math.max(0, n.from - 15), n.to + 15))}`);
    },
  });
  if (expr.trim() === '') errors.push('empty expression');
  return { tree, errors };
}

const text = (expr: string, n: SyntaxNode) => expr.slice(n.from, n.to);

function descendants(n: SyntaxNode, name: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  const cur = n.cursor();
  if (!cur.firstChild()) return out;
  for (let depth = 1; depth > 0;) {
    if (cur.name === name) out.push(cur.node);
    if (cur.firstChild()) { depth++; continue; }
    while (!cur.nextSibling()) {
      if (!cur.parent()) return out;
      depth--;
      if (depth === 0) return out;
    }
  }
  return out;
}

/** Metric names the expression selects (selector identifiers and `__name__="…"` matchers). */
export function metricNames(expr: string, tree: Tree = parser.parse(expr)): string[] {
  const names = new Set<string>();
  for (const vs of descendants(tree.topNode, 'VectorSelector')) {
    const id = vs.getChild('Identifier');
    if (id) names.add(text(expr, id));
    for (const m of descendants(vs, 'UnquotedLabelMatcher')) {
      const label = m.getChild('LabelName');
      const op = m.getChild('MatchOp')?.firstChild;
      const value = m.getChild('StringLiteral');
      if (label && value && op?.name === 'EqlSingle' && text(expr, label) === '__name__') names.add(JSON.parse(text(expr, value)) as string);
    }
  }
  return [...names];
}

/** The source text of every vector selector in the expression. */
export function selectors(expr: string, tree: Tree = parser.parse(expr)): string[] {
  return descendants(tree.topNode, 'VectorSelector').map((n) => text(expr, n));
}

/** Names of the functions called, e.g. HistogramQuantile, Rate. */
function functionName(call: SyntaxNode): string | undefined {
  return call.getChild('FunctionIdentifier')?.firstChild?.name;
}

/**
 * How the expression misuses histograms, if it does: every `_bucket` selector must sit inside
 * rate() (never raw cumulative buckets), and every histogram_quantile() must be over rates of
 * `_bucket` series aggregated by `le`.
 */
export function histogramMisuse(expr: string, tree: Tree = parser.parse(expr)): string[] {
  const problems: string[] = [];
  for (const vs of descendants(tree.topNode, 'VectorSelector')) {
    const name = vs.getChild('Identifier');
    if (!name || !text(expr, name).endsWith('_bucket')) continue;
    let inRate = false;
    for (let p: SyntaxNode | null = vs.parent; p; p = p.parent) if (p.name === 'FunctionCall' && functionName(p) === 'Rate') inRate = true;
    if (!inRate) problems.push(`${text(expr, name)} is used outside rate()`);
  }
  for (const call of descendants(tree.topNode, 'FunctionCall')) {
    if (functionName(call) !== 'HistogramQuantile') continue;
    const body = text(expr, call);
    const rates = descendants(call, 'FunctionCall').filter((c) => functionName(c) === 'Rate');
    const buckets = rates.flatMap((r) => metricNames(expr.slice(r.from, r.to))).filter((n) => n.endsWith('_bucket'));
    if (buckets.length === 0) problems.push(`histogram_quantile over no rate() of _bucket series: ${body}`);
    const byLe = descendants(call, 'AggregateExpr').some((a) => {
      const grouping = a.getChild('AggregateModifier');
      return grouping?.getChild('By') && descendants(grouping, 'LabelName').some((l) => text(expr, l) === 'le');
    });
    if (!byLe) problems.push(`histogram_quantile over buckets not aggregated by le: ${body}`);
  }
  return problems;
}

/** True when the expression is exactly `sum by (le) (rate(<name>_bucket{…}[…]))`: a heatmap's query. */
export function isBucketRateByLe(expr: string, tree: Tree = parser.parse(expr)): boolean {
  const agg = tree.topNode.firstChild;
  if (agg?.name !== 'AggregateExpr' || agg.getChild('AggregateOp')?.firstChild?.name !== 'Sum') return false;
  const labels = descendants(agg.getChild('AggregateModifier') ?? agg, 'LabelName').map((l) => text(expr, l));
  if (!agg.getChild('AggregateModifier')?.getChild('By') || labels.join(',') !== 'le') return false;
  const inner = agg.getChild('FunctionCallBody')?.firstChild;
  if (inner?.name !== 'FunctionCall' || functionName(inner) !== 'Rate') return false;
  return metricNames(text(expr, inner)).every((n) => n.endsWith('_bucket'));
}
