#!/usr/bin/env node
// The `bpfwasm` command line.
import { Command, InvalidArgumentError } from 'commander';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { registerCheck } from './check/command.js';
import { exportersCommand } from './cli/exporters.js';
import { Collector } from './collector.js';
import { loadConfig } from './config.js';
import { createLogging } from './logs/index.js';
import { buildServer } from './http/server.js';
import { RemoteWriter, remoteWriterOptions } from './metrics/remote-write.js';
import { ProfileStore } from './profile/profile-store.js';
import { Profiler } from './profile/profiler.js';
import type { ProfileFormat } from './profile/render/index.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
}

async function run(opts: { port?: number; host?: string; config?: string }): Promise<void> {
  const config = loadConfig(opts.config);
  if (opts.port !== undefined) config.listen.port = opts.port;
  if (opts.host !== undefined) config.listen.host = opts.host;
  const logging = createLogging(config);
  const log = logging.logger;

  const collector = new Collector(config, log);
  logging.bindMetrics(collector.store);
  const server = buildServer({
    logger: log,
    store: collector.store,
    shadow: () => collector.exporters.shadowStore,
    refresh: () => collector.refresh(),
    readiness: () => collector.readiness(),
    externalLabels: config.federate.externalLabels,
    profiling: {
      profiler: new Profiler({ helperPath: config.helper.path, maxConcurrent: config.profile.maxConcurrent }),
      store: new ProfileStore(config.profile.keep),
      limits: config.profile,
    },
  });
  const writer = config.remoteWrite.url
    ? new RemoteWriter(collector.store, remoteWriterOptions(config, () => collector.refresh()), log)
    : undefined;
  // Listen first so /healthz and /readyz answer while the sensors load.
  await server.listen({ port: config.listen.port, host: config.listen.host });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await writer?.stop(); // first, so its last snapshot still sees a running pipeline
    await collector.stop();
    await server.close();
    await logging.close(); // last, so the shutdown's own lines are shipped too
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  try {
    await collector.start();
  } catch (err) {
    await collector.stop();
    await server.close();
    throw err;
  }
  writer?.start();
  log.info({ port: config.listen.port, host: config.listen.host }, 'collector ready');
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Output file extension → the format /flamegraph renders. */
const EXTENSIONS: [string, ProfileFormat][] = [
  ['.html', 'html'], ['.svg', 'svg'], ['.json', 'json'], ['.folded', 'folded'], ['.pb.gz', 'pprof'],
];

// cli-progress ships no type declarations; this is the part of its API used here.
interface ProgressBar {
  start(total: number, value: number): void;
  update(value: number): void;
  stop(): void;
}
const { SingleBar } = createRequire(import.meta.url)('cli-progress') as {
  SingleBar: new (opts: { format: string; hideCursor: boolean; clearOnComplete: boolean }) => ProgressBar;
};

/** GET `url` with no timeout (a profile takes as long as it samples); rejects on a network error. */
function get(url: URL, signal: AbortSignal): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface ProfileOptions { pid?: number; cgroup?: string; seconds: number; hz?: number; url: string; output: string }

async function profile(opts: ProfileOptions): Promise<void> {
  const format = EXTENSIONS.find(([ext]) => opts.output.endsWith(ext))?.[1];
  if (!format) throw new Error(`cannot tell the format from ${opts.output}: use ${EXTENSIONS.map(([e]) => e).join(', ')}`);
  const url = new URL('/flamegraph', opts.url);
  const q = url.searchParams;
  q.set('seconds', String(opts.seconds));
  q.set('format', format);
  if (opts.hz !== undefined) q.set('hz', String(opts.hz));
  if (opts.pid !== undefined) q.set('pid', String(opts.pid));
  if (opts.cgroup !== undefined) q.set('cgroup', opts.cgroup);

  // Closing the connection on Ctrl-C makes the collector stop sampling.
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  // The server says nothing until it is done, so the bar follows the clock; it draws only on a TTY.
  const bar = new SingleBar({ format: 'sampling [{bar}] {value}/{total} s', hideCursor: true, clearOnComplete: true });
  bar.start(opts.seconds, 0);
  const started = Date.now();
  const tick = setInterval(() => bar.update(Math.min(opts.seconds, Math.floor((Date.now() - started) / 1000))), 250);
  let res: { status: number; body: Buffer };
  try {
    res = await get(url, ac.signal);
  } catch (err) {
    if (ac.signal.aborted) throw new Error('interrupted; sampling stopped');
    throw new Error(`cannot reach the collector at ${opts.url}: ${(err as Error).message}`);
  } finally {
    clearInterval(tick);
    bar.stop();
  }
  if (res.status !== 200) {
    let message = res.body.toString('utf8');
    try {
      message = (JSON.parse(message) as { message: string }).message;
    } catch { /* not our JSON error body: show it as it came */ }
    throw new Error(`the collector answered ${res.status}: ${message}`);
  }
  writeFileSync(opts.output, res.body);
  process.stderr.write(`wrote ${opts.output} (${res.body.length} bytes)\n`);
}

const program = new Command('bpfwasm')
  .description('Node-level observability collector: eBPF sensors, WebAssembly metric exporters, Prometheus endpoints')
  .version('0.1.0');

program.command('run')
  .description('start the collector with its built-in exporters')
  .option('-p, --port <port>', 'HTTP port for /metrics, /healthz and /readyz (default 9745)', port)
  .option('--host <address>', 'address to listen on (default 0.0.0.0)')
  .option('-c, --config <file>', 'YAML configuration file')
  .addHelpText('after', `
Examples:
  $ sudo bpfwasm run                     # built-in exporters on :9745
  $ bpfwasm run --port 9100 --config /etc/bpfwasm/config.yaml
  $ curl -s localhost:9745/metrics | grep bpfwasm_process_exec_total`)
  .action(run);

program.command('profile')
  .description('sample CPU stacks through a running collector and save a flamegraph')
  .option('--pid <pid>', 'only this process', positiveInt)
  .option('--cgroup <path|id>', 'only this cgroup v2 (path under /sys/fs/cgroup, or its id)')
  .option('-s, --seconds <seconds>', 'how long to sample', positiveInt, 10)
  .option('--hz <hz>', 'samples per second per CPU (collector default 99)', positiveInt)
  .option('--url <url>', 'the collector', 'http://127.0.0.1:9745')
  .requiredOption('-o, --output <file>', `where to write; the format follows the extension (${EXTENSIONS.map(([e]) => e).join(', ')})`)
  .addHelpText('after', `
Examples:
  $ bpfwasm profile --pid 1234 --seconds 30 -o flame.html    # interactive flamegraph
  $ bpfwasm profile --seconds 10 --hz 49 -o cpu.svg          # every process, static SVG
  $ bpfwasm profile --pid 1234 -o cpu.pb.gz && go tool pprof -top cpu.pb.gz
  $ bpfwasm profile --cgroup system.slice/nginx.service -o nginx.folded --url http://node7:9745`)
  .action(profile);

registerCheck(program);
program.addCommand(exportersCommand());

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`bpfwasm: ${err.message}\n`);
  process.exit(1);
});
