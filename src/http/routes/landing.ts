// GET /: a plain HTML page, as node_exporter has, saying what runs here and linking every
// endpoint. No script and no external asset: it works in any browser and through any proxy.
import type { FastifyPluginAsync } from 'fastify';

export interface LandingSensor { name: string; state: string }

export interface LandingRouteOptions {
  version: string;
  startedAt: number;
  /** The enabled sensors and what became of each. */
  sensors(): LandingSensor[];
  /** Whether /flamegraph is served. */
  flamegraph: boolean;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const html = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** "3d 4h", "5h 2m", "42s": a person's reading of an uptime. */
export function uptimeText(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86_400), h = Math.floor((s % 86_400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

const FEDERATE_EXAMPLES = [
  ['every bpfwasm series', '{__name__=~"bpfwasm_.+"}'],
  ['process execs and exits', '{__name__=~"bpfwasm_process_.+"}'],
  ['the collector\'s own health', '{__name__=~"bpfwasm_(helper|ring|exporter|series)_.+"}'],
] as const;

export function landingPage(opts: LandingRouteOptions, now = Date.now()): string {
  const link = (href: string, text: string, note: string) => `<li><a href="${html(href)}">${html(text)}</a> ${html(note)}</li>`;
  const sensors = opts.sensors().map((s) => `<tr><td>${html(s.name)}</td><td>${html(s.state)}</td></tr>`).join('\n');
  const federate = FEDERATE_EXAMPLES.map(([note, match]) => link(`/federate?match[]=${encodeURIComponent(match)}`, `/federate?match[]=${match}`, `: ${note}`)).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>bpfwasm ${html(opts.version)}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}td{padding:.1em 1em .1em 0}code{font-size:90%}</style>
</head>
<body>
<h1>bpfwasm</h1>
<p>Node-level observability collector: eBPF sensors, WebAssembly exporters, Prometheus endpoints.</p>
<p>Version <strong>${html(opts.version)}</strong>, up <strong>${html(uptimeText((now - opts.startedAt) / 1000))}</strong>.</p>
<h2>Sensors</h2>
<table>
<tr><th align="left">sensor</th><th align="left">state</th></tr>
${sensors}
</table>
<h2>Endpoints</h2>
<ul>
${link('/metrics', '/metrics', ': every series, for Prometheus to scrape')}
${link('/metrics/shadow', '/metrics/shadow', ': the shadow exporters\' series during a rollout')}
${opts.flamegraph ? link('/flamegraph?seconds=10', '/flamegraph?seconds=10', ': a 10-second CPU flamegraph of the node (HTML)') : ''}
${link('/healthz', '/healthz', ': liveness')}
${link('/readyz', '/readyz', ': readiness, with the sensors left off and why')}
</ul>
<h2>Federation</h2>
<ul>
${federate}
</ul>
</body>
</html>
`;
}

export const landingRoute: FastifyPluginAsync<LandingRouteOptions> = async (app, opts) => {
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-store').send(landingPage(opts)));
};
