// The dashboards are valid without a Grafana: they parse, every PromQL expression parses with
// Prometheus's lezer grammar once Grafana's variables are substituted, latency panels use
// histograms properly, everything queries the ${datasource} variable, and the provisioning
// files point Grafana at them. Whether the queries return data is test/integration/dashboards.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { dashboards, render, SCHEMA_VERSION } from '../../dashboards/generate.mjs';
import {
  DASHBOARDS_DIR, histogramMisuse, isBucketRateByLe, loadDashboards, metricNames, panelsOf, selectors, parsePromQL, queriesOf,
  substitute, type Dashboard,
} from './promql.js';

/** Values Grafana would put in: any valid ones will do for parsing. */
const VARS = {
  node: 'web-42', instance: '10.0.0.7:9745', exporter: 'process', metric: 'bpfwasm_process_exec_total',
  __rate_interval: '1m', __interval: '15s', __range: '1h',
};

const DS = { type: 'prometheus', uid: '${datasource}' };

/** Parse errors of every query, each named by dashboard and panel title. */
function parseErrors(dash: Dashboard): string[] {
  return queriesOf(dash).flatMap((q) => parsePromQL(substitute(q.expr, VARS)).errors.map((e) => `${q.where}: ${e}`));
}

const all = loadDashboards();

describe('dashboards', () => {
  it('are the node overview, collector health and exporter rollout, each parsing as JSON', () => {
    expect(all.map((d) => d.dash.uid)).toEqual(['bpfwasm-collector-health', 'bpfwasm-exporter-rollout', 'bpfwasm-node-overview']);
  });

  it('are exactly what dashboards/generate.mjs writes', () => {
    for (const [file, dash] of Object.entries(dashboards())) {
      expect(readFileSync(join(DASHBOARDS_DIR, file), 'utf8'), `dashboards/${file}: run node dashboards/generate.mjs`).toBe(render(dash));
    }
  });

  for (const { file, dash } of all) {
    describe(file, () => {
      it('has the current schema version, unique panel ids, and panels inside the 24-column grid', () => {
        expect(dash.schemaVersion).toBe(SCHEMA_VERSION);
        const ids = dash.panels.map((p) => p.id);
        expect(new Set(ids).size).toBe(ids.length);
        for (const p of dash.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      });

      it('queries the ${datasource} variable (type prometheus) from every panel, target and variable', () => {
        const ds = dash.templating.list.find((v) => v.name === 'datasource');
        expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
        for (const p of panelsOf(dash)) {
          expect(p.datasource, p.title).toEqual(DS);
          expect(p.targets?.length, p.title).toBeGreaterThan(0);
          for (const t of p.targets!) expect(t.datasource, `${p.title} ${t.refId}`).toEqual(DS);
        }
        for (const v of dash.templating.list.filter((x) => x.type === 'query')) expect(v.datasource, v.name).toEqual(DS);
      });

      it('has node and instance variables, and every query is scoped by them', () => {
        const names = dash.templating.list.map((v) => v.name);
        expect(names.slice(0, 3)).toEqual(['datasource', 'node', 'instance']);
        if (dash.uid === 'bpfwasm-exporter-rollout') expect(names.slice(3)).toEqual(['exporter', 'metric']);
        for (const q of queriesOf(dash).filter((x) => x.panel)) {
          // Each selector of the expression carries both matchers (checked before substitution).
          const raw = substitute(q.expr, { ...VARS, node: '$node', instance: '$instance' });
          const sels = selectors(raw);
          expect(sels.length, q.where).toBeGreaterThan(0);
          // "Fleet:" panels compare across every selected node, so they are scoped by node only.
          const scope = q.where.includes('› Fleet: ') ? 'node=~"$node"' : 'node=~"$node", instance=~"$instance"';
          for (const s of sels) expect(s, q.where).toContain(scope);
        }
        // Several collectors at once, or All of them: a fleet view.
        expect(dash.templating.list.find((v) => v.name === 'instance')).toMatchObject({ multi: true, includeAll: true, allValue: '.*' });
      });

      it('parses every PromQL expression with lezer-promql after substituting the variables', () => {
        expect(parseErrors(dash)).toEqual([]);
      });

      it('references only collector metrics', () => {
        for (const q of queriesOf(dash)) {
          const names = metricNames(substitute(q.expr, VARS));
          // A variable listing metric names selects them by a __name__ regex, which must be ours.
          if (q.label === '__name__') expect(q.expr, q.where).toContain('__name__=~"bpfwasm_');
          else expect(names.length, q.where).toBeGreaterThan(0);
          for (const n of names) expect(n, q.where).toMatch(/^(bpfwasm_|process_|nodejs_)/);
        }
      });

      it('uses histograms properly: heatmaps of bucket rates by le, histogram_quantile over rate', () => {
        for (const q of queriesOf(dash)) {
          expect(histogramMisuse(substitute(q.expr, VARS)), q.where).toEqual([]);
          if (q.panel?.type === 'heatmap') {
            expect(q.target!.format, q.where).toBe('heatmap');
            expect(isBucketRateByLe(substitute(q.expr, VARS)), `${q.where}: ${q.expr}`).toBe(true);
          }
        }
      });

      it('links to the node\'s /flamegraph', () => {
        expect(dash.links.map((l) => l.url)).toContain('http://${instance}/flamegraph?seconds=10');
        const linked = panelsOf(dash).filter((p) => p.links?.some((l) => l.url.startsWith('http://${instance}/flamegraph')));
        expect(linked.length).toBeGreaterThan(0);
      });
    });
  }

  it('the node overview covers every sensor, with latency heatmaps and quantiles', () => {
    const node = all.find((d) => d.dash.uid === 'bpfwasm-node-overview')!.dash;
    const names = new Set(queriesOf(node).flatMap((q) => metricNames(substitute(q.expr, VARS))));
    for (const n of [
      'bpfwasm_process_exec_total', 'bpfwasm_process_exit_total', 'bpfwasm_process_fork_total',
      'bpfwasm_syscall_latency_seconds_bucket', 'bpfwasm_syscall_errors_total',
      'bpfwasm_tcp_connections_opened_total', 'bpfwasm_tcp_connections_closed_total', 'bpfwasm_tcp_retransmits_total',
      'bpfwasm_tcp_connection_duration_seconds_bucket', 'bpfwasm_block_io_latency_seconds_bucket', 'bpfwasm_block_io_bytes_total',
      'bpfwasm_runqueue_latency_seconds_bucket', 'bpfwasm_oom_kills_total',
    ]) expect(names, n).toContain(n);
    const heatmaps = panelsOf(node).filter((p) => p.type === 'heatmap').map((p) => metricNames(p.targets![0]!.expr.replace(/\$__rate_interval/g, '1m'))[0]);
    expect(heatmaps).toEqual(['bpfwasm_syscall_latency_seconds_bucket', 'bpfwasm_block_io_latency_seconds_bucket', 'bpfwasm_runqueue_latency_seconds_bucket']);
  });
});

describe('the PromQL checks catch what they are for', () => {
  const broken: Dashboard = JSON.parse(JSON.stringify(all[0]!.dash)) as Dashboard;
  const panel = panelsOf(broken).find((p) => p.type === 'timeseries')!;

  it('a syntax error is reported with its panel title', () => {
    panel.targets![0]!.expr = 'sum by (le (rate(bpfwasm_frames_total[$__rate_interval]))';
    const errors = parseErrors(broken);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toContain(`${broken.title} › ${panel.title} (A): at `);
  });

  it('an unsubstituted Grafana variable does not parse', () => {
    expect(parsePromQL('rate(bpfwasm_frames_total[$__rate_interval])').errors.length).toBeGreaterThan(0);
    expect(() => substitute('rate(x[$__unknown])', VARS)).toThrow(/\$__unknown/);
  });

  it('raw buckets, quantiles of raw buckets and of unaggregated le are refused', () => {
    expect(histogramMisuse('histogram_quantile(0.9, sum by (le) (x_bucket))')).toHaveLength(2);
    expect(histogramMisuse('histogram_quantile(0.9, sum by (device) (rate(x_bucket[1m])))')).toEqual([expect.stringContaining('not aggregated by le')]);
    expect(histogramMisuse('histogram_quantile(0.9, sum by (le) (rate(x_bucket[1m])))')).toEqual([]);
    expect(isBucketRateByLe('sum by (le) (rate(x_bucket[1m]))')).toBe(true);
    expect(isBucketRateByLe('sum by (le, device) (rate(x_bucket[1m]))')).toBe(false);
    expect(isBucketRateByLe('sum by (le) (increase(x_bucket[1m]))')).toBe(false);
  });

  it('metric names come from selectors and __name__ matchers, not from labels or functions', () => {
    expect(metricNames('sum by (comm) (rate(a_total{comm="b_total"}[1m])) / on() {__name__="c"}').sort()).toEqual(['a_total', 'c']);
  });
});

describe('provisioning', () => {
  it('provisions the dashboards from files into a bpfwasm folder', () => {
    const p = parseYaml(readFileSync(join(DASHBOARDS_DIR, 'provisioning/dashboards/bpfwasm.yaml'), 'utf8'));
    expect(p).toMatchObject({ apiVersion: 1, providers: [{ name: 'bpfwasm', type: 'file', folder: 'bpfwasm', options: { path: expect.any(String) } }] });
  });

  it('provisions a default Prometheus data source', () => {
    const p = parseYaml(readFileSync(join(DASHBOARDS_DIR, 'provisioning/datasources/prometheus.yaml'), 'utf8'));
    expect(p).toMatchObject({ apiVersion: 1, datasources: [{ type: 'prometheus', access: 'proxy', isDefault: true, url: expect.stringMatching(/^http/) }] });
  });
});
