#!/usr/bin/env node
// The `bpfwasm` command line.
import './v8-flags.js'; // first: before the other modules allocate
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { ApiServer } from './api/server.js';
import { SENSORS, isHost, loadConfig } from './config.js';
import { BpfwasmError } from './errors.js';
import { activeCodeCache } from './code-cache.js';

// Users read one-line errors; a library's deprecation notice (grpc-js passing an IP as TLS
// servername: DEP0123) is noise to them, so the CLI prints none.
process.noDeprecation = true;

/** Why a listen failed, in the words of its errno. */
const LISTEN_ERRORS: Record<string, string> = {
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name cannot be resolved now (DNS unavailable)',
  EADDRINUSE: 'the port is in use',
  EADDRNOTAVAIL: 'the address is not one of this host\'s',
  EACCES: 'permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE)',
};

function hostOption(value: string): string {
  if (!isHost(value)) throw new InvalidArgumentError('must be an IP address or a host name');
  return value;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
}

async function run(opts: { port?: number; host?: string; config?: string }): Promise<void> {
  const config = loadConfig(opts.config);
  if (opts.port !== undefined) config.listen.port = opts.port;
  if (opts.host !== undefined) config.listen.host = opts.host;
  // Loaded here, not imported above: v8-flags.js must be in force before they load (and the
  // other commands never need them).
  const [{ Collector }, { createLogging }] = await Promise.all([import('./collector.js'), import('./logs/index.js')]);
  const logging = createLogging(config);
  const log = logging.logger;

  const collector = new Collector(config, log);
  logging.bindMetrics(collector.store);
  // The helper is spawned before the HTTP server's modules load (their synchronous loading would
  // hold the spawn back): it loads its sensors in its own process (~150 ms) meanwhile. The
  // exporter thread starts once they are loaded (Collector.start says why) and loads the
  // exporters while this thread listens and starts the API.
  let serverLoaded!: () => void;
  const collectorStarted = collector.start(undefined, new Promise<void>((resolve) => { serverLoaded = resolve; }));
  collectorStarted.catch(() => { /* awaited below, after the API */ });
  await Promise.race([collector.launched, collectorStarted.catch(() => undefined)]);
  const [{ buildServer }, { ProfileStore }, { profileAccess }, { setElfCacheBytes }, { Profiler }] = await Promise.all([
    import('./http/server.js'), import('./profile/profile-store.js'),
    import('./http/profile-access.js'), import('./profile/symbolize/elf.js'), import('./profile/profiler.js'),
  ]);
  serverLoaded();
  // One profiler for HTTP and gRPC, so profile.maxConcurrent holds across both.
  setElfCacheBytes(config.profile.cacheBytes);
  const profiling = {
    profiler: new Profiler({ helperPath: config.helper.path, maxConcurrent: config.profile.maxConcurrent }),
    store: new ProfileStore(config.profile.keep),
    limits: config.profile,
    access: profileAccess(config.http),
  };
  // The gRPC API (grpc-js, protobufjs) loads while the helper loads its sensors, not before;
  // /readyz waits for it too, so a client that saw ready can connect.
  let api: ApiServer | undefined;
  let apiStarting = config.api.enabled;
  const server = buildServer({
    logger: log,
    store: collector.store,
    shadow: () => collector.exporters.shadowStore,
    refresh: () => collector.refresh(),
    readiness: () => {
      const r = collector.readiness();
      return apiStarting ? { ...r, ready: false, waiting: [...r.waiting, 'API not listening yet'] } : r;
    },
    externalLabels: config.federate.externalLabels,
    profiling,
    landing: {
      version: program.version() ?? '',
      startedAt: collector.startedAt,
      sensors: () => {
        const readiness = collector.readiness();
        const off = new Map((readiness.off ?? []).map((o) => [o.sensor, o]));
        return SENSORS.filter((s) => config.sensors[s].enabled).map((name) => {
          const o = off.get(name);
          return { name, state: o ? `off: ${o.step}: ${o.reason}` : readiness.ready ? 'attached' : 'starting' };
        });
      },
    },
  });
  const writer = config.remoteWrite.url
    ? await import('./metrics/remote-write.js').then(({ RemoteWriter, remoteWriterOptions }) =>
      new RemoteWriter(collector.store, remoteWriterOptions(config, () => collector.refresh()), log))
    : undefined;
  // /healthz and /readyz answer while the sensors load.
  await server.listen({ port: config.listen.port, host: config.listen.host }).catch(async (err: NodeJS.ErrnoException) => {
    await collectorStarted.catch(() => undefined); // stopped once its start settled, as below
    await collector.stop();
    const why = LISTEN_ERRORS[err.code ?? ''] ?? err.message;
    throw new BpfwasmError('LISTEN_FAILED', `cannot listen on ${config.listen.host} port ${config.listen.port} (listen.host, listen.port): ${why}`);
  });
  try {
    if (config.api.enabled) {
      const { ApiServer } = await import('./api/server.js');
      api = new ApiServer({ config: config.api, collector, profiling, exporters: collector.exporters, log });
      await api.start();
    }
    apiStarting = false;
  } catch (err) {
    await api?.stop();
    await collectorStarted.catch(() => undefined);
    await collector.stop();
    await server.close();
    throw err;
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await profiling.profiler.close(); // a profile in progress ends with its 503, not a reset connection
    await writer?.stop(); // first, so its last snapshot still sees a running pipeline
    await api?.stop(); // ends event streams before the pipeline stops feeding them
    await collector.stop();
    // Requests in progress may finish (idle connections close now); one that lingers is cut after 2 s.
    const cut = setTimeout(() => server.server.closeAllConnections(), 2000);
    await server.close();
    clearTimeout(cut);
    await logging.close(); // last, so the shutdown's own lines are shipped too
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  try {
    await collectorStarted;
  } catch (err) {
    await api?.stop();
    await collector.stop();
    await server.close();
    throw err;
  }
  writer?.start();
  log.info({ port: config.listen.port, host: config.listen.host }, 'collector ready');
  // The chunks compiled without a cache get theirs, with what start-up compiled (src/code-cache.ts),
  // a moment after ready: the first answers to /readyz do not wait for it.
  const codeCache = activeCodeCache();
  if (codeCache) {
    setTimeout(() => {
      const saved = codeCache.save();
      if (saved.error) log.info({ dir: codeCache.cacheDir, err: saved.error }, 'code cache not written: the next start compiles from source too');
    }, 1000).unref();
  }
}

const program = new Command('bpfwasm')
  .description('Node-level observability collector: eBPF sensors, WebAssembly metric exporters, Prometheus endpoints')
  .version('0.1.0');

program.command('run')
  .description('start the collector with its built-in exporters')
  .option('-p, --port <port>', 'HTTP port for /metrics, /healthz and /readyz (default 9745)', port)
  .option('--host <address>', 'address to listen on (default 0.0.0.0)', hostOption)
  .option('-c, --config <file>', 'YAML configuration file')
  .addHelpText('after', `
Examples:
  $ sudo bpfwasm run                     # built-in exporters on :9745
  $ bpfwasm run --port 9100 --config /etc/bpfwasm/config.yaml
  $ curl -s localhost:9745/metrics | grep bpfwasm_process_exec_total`)
  .action(run);

// `run` is what a host starts at boot: the other commands' modules (the gRPC client among
// them) load only when the command line is not `run`. No top-level await: the bundle is CommonJS,
// so that V8 can cache its compiled code (src/code-cache.ts).
async function addOtherCommands(): Promise<void> {
  if (process.argv[2] === 'run') return;
  const [{ statusCommand }, { eventsCommand }, { profileCommand }, { registerCheck }, { exportersCommand }] = await Promise.all([
    import('./cli/status.js'), import('./cli/events.js'), import('./cli/profile.js'), import('./check/command.js'), import('./cli/exporters.js'),
  ]);
  program.addCommand(statusCommand());
  program.addCommand(eventsCommand());
  program.addCommand(profileCommand());
  registerCheck(program);
  program.addCommand(exportersCommand());
}

// Commander's own errors (an unknown option, a bad value) in the same one-line form as ours,
// with exit status 2 for a usage error; help and --version still exit as commander says.
const USAGE_ERROR = 2;
function speakOneLanguage(cmd: Command): void {
  cmd.exitOverride().configureOutput({ outputError: () => {} });
  for (const sub of cmd.commands) speakOneLanguage(sub);
}
addOtherCommands().then(() => {
  speakOneLanguage(program);
  return program.parseAsync();
}).catch((err: Error) => {
  // Help asked for exits 0; help shown because a command was missing is a usage error.
  if (err instanceof CommanderError && ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)) process.exit(err.exitCode === 0 ? 0 : USAGE_ERROR);
  process.stderr.write(`bpfwasm: ${err.message.replace(/^error: /, '')}\n`);
  process.exit(err instanceof CommanderError ? USAGE_ERROR : 1);
});
