// The shipped alert rules: promtool checks deploy/prometheus/alerts.yml and runs its unit tests
// (alerts.test.yml: each alert fires on what should raise it, and not on a healthy collector),
// and the PrometheusRule in deploy/kubernetes carries exactly the same groups.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { PROMTOOL } from '../support/exposition-check.js';

const DIR = join(PACKAGE_ROOT, 'deploy/prometheus');
const ALERTS = ['BpfwasmHelperDown', 'BpfwasmHelperStalled', 'BpfwasmRingDrops', 'BpfwasmExporterQuarantined', 'BpfwasmSeriesRefused', 'BpfwasmScrapeSlow', 'BpfwasmOOMKills'];

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL, args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe('alert rules', () => {
  const rules = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] };

  it('pass promtool check rules', () => {
    expect(promtool('check', 'rules', 'alerts.yml')).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${ALERTS.length} rules found`) });
  });

  it('pass promtool test rules, with a test that fires every alert', () => {
    const tests = readFileSync(join(DIR, 'alerts.test.yml'), 'utf8');
    for (const alert of ALERTS) expect(tests, alert).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
    expect(rules.groups.flatMap((g) => g.rules.map((r) => r.alert))).toEqual(ALERTS);
    const r = promtool('test', 'rules', 'alerts.test.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('the PrometheusRule carries the same groups', () => {
    const rule = parse(readFileSync(join(PACKAGE_ROOT, 'deploy/kubernetes/prometheusrule.yaml'), 'utf8')) as { spec: unknown };
    expect(rule.spec).toEqual(rules);
  });
});
