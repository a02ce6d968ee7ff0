// Checks an exposition with the reference parsers: `promtool check metrics` (Prometheus' Go text
// parser and linter) for text 0.0.4, and client_python's OpenMetrics parser (Debian
// python3-prometheus-client, the spec's reference implementation) for OpenMetrics 1.0.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';

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
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
def number(v):
    return 'NaN' if math.isnan(v) else ('+Inf' if v == math.inf else ('-Inf' if v == -math.inf else v))
for line in sys.stdin:
    result = {}
    for fmt, text in json.loads(line).items():
        try:
            parse = parse_openmetrics if fmt == 'openmetrics' else parse_text
            result[fmt] = {'samples': [[f.name, f.type, s.name, s.labels, number(s.value)] for f in parse(text) for s in f.samples]}
        except Exception as e:
            result[fmt] = {'error': '%s: %s' % (type(e).__name__, e)}
    print(json.dumps(result), flush=True)
`;

export interface Parsed {
  readonly samples?: ParsedSample[];
  /** The parser's complaint when it refuses the text. */
  readonly error?: string;
}

type Docs = { text?: string; openmetrics?: string };
type RawParsed = { samples?: [string, string, string, Record<string, string>, number | string][]; error?: string };

/**
 * client_python's parsers in one long-lived process (a start costs ~0.3 s): `openmetrics` with
 * its OpenMetrics parser (strict, the spec's reference), `text` with its text 0.0.4 parser.
 * One JSON document per line each way.
 */
export class ReferenceParser {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiting: ((line: string) => void)[] = [];
  private buffered = '';
  private stderr = '';

  constructor() {
    this.proc = spawn(PYTHON, ['-c', PARSE]);
    this.proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
    this.proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.proc.stdin.on('error', () => {}); // a write after it exited: `parse` rejects on the exit
  }

  parse(docs: Docs): Promise<{ text?: Parsed; openmetrics?: Parsed }> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error(`python3 exited (python3-prometheus-client installed?): ${this.stderr}`));
      this.proc.once('exit', onExit);
      this.waiting.push((line) => {
        this.proc.off('exit', onExit);
        const raw = JSON.parse(line) as Record<string, RawParsed>;
        resolve(Object.fromEntries(Object.entries(raw).map(([fmt, p]) => [fmt, toParsed(p)])));
      });
      this.proc.stdin.write(`${JSON.stringify(docs)}\n`);
    });
  }

  close(): void {
    this.proc.kill();
  }
}

function toParsed(p: RawParsed): Parsed {
  if (p.error !== undefined) return { error: p.error };
  return {
    samples: p.samples!.map(([family, type, name, labels, value]) => ({
      family, type, name, labels, value: typeof value === 'number' ? value : Number(value.replace('+', '')),
    })),
  };
}

/** Parses OpenMetrics text with the reference parser (one process for this call). */
export async function parseOpenMetrics(text: string): Promise<Parsed> {
  const parser = new ReferenceParser();
  try {
    return (await parser.parse({ openmetrics: text })).openmetrics!;
  } finally {
    parser.close();
  }
}
