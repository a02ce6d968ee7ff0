// Checks an exposition with the reference parsers: `promtool check metrics` (Prometheus' Go text
// parser and linter) for text 0.0.4, and client_python's OpenMetrics parser (Debian
// python3-prometheus-client, the spec's reference implementation) for OpenMetrics 1.0.
import { spawnSync } from 'node:child_process';

export const PROMTOOL = '/usr/bin/promtool';
const PYTHON = '/usr/bin/python3';

export interface PromtoolResult {
  /** 0: valid and clean; 3: valid with lint findings; 1: does not parse. */
  readonly status: number | null;
  readonly output: string;
}

export function promtoolCheck(text: string): PromtoolResult {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: r.stdout + r.stderr };
}

/** One sample as the OpenMetrics parser read it. */
export interface ParsedSample {
  readonly family: string;
  readonly type: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

const PARSE = `
import json, math, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = sys.stdin.buffer.read().decode('utf-8')
try:
    out = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            v = s.value
            out.append([fam.name, fam.type, s.name, s.labels, 'NaN' if math.isnan(v) else ('+Inf' if v == math.inf else ('-Inf' if v == -math.inf else v))])
    print(json.dumps({'samples': out}))
except Exception as e:
    print(json.dumps({'error': '%s: %s' % (type(e).__name__, e)}))
`;

/** Parses OpenMetrics text; `error` is the parser's complaint when it refuses it. */
export function parseOpenMetrics(text: string): { samples?: ParsedSample[]; error?: string } {
  const r = spawnSync(PYTHON, ['-c', PARSE], { input: Buffer.from(text, 'utf8'), encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python3 failed (python3-prometheus-client installed?): ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as { samples?: [string, string, string, Record<string, string>, number | string][]; error?: string };
  if (parsed.error !== undefined) return { error: parsed.error };
  return {
    samples: parsed.samples!.map(([family, type, name, labels, value]) => ({
      family, type, name, labels, value: typeof value === 'number' ? value : Number(value.replace('+', '')),
    })),
  };
}
