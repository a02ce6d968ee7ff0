#!/usr/bin/env node
// The `bpfwasm` command line.
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { Collector } from './collector.js';
import { loadConfig } from './config.js';
import { buildServer } from './http/server.js';
import { RemoteWriter, remoteWriterOptions } from './metrics/remote-write.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
}

async function run(opts: { port?: number; host?: string; config?: string }): Promise<void> {
  const config = loadConfig(opts.config);
  if (opts.port !== undefined) config.listen.port = opts.port;
  if (opts.host !== undefined) config.listen.host = opts.host;
  const log = pino({ level: config.log.level, base: { service: 'bpfwasm' } });

  const collector = new Collector(config, log);
  const server = buildServer({
    logger: log,
    store: collector.store,
    refresh: () => collector.refresh(),
    readiness: () => collector.readiness(),
    externalLabels: config.federate.externalLabels,
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

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`bpfwasm: ${err.message}\n`);
  process.exit(1);
});
