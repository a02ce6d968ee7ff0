// Collector configuration: YAML (or JSON) from --config, merged over defaults and validated
// so that a typo or a wrong type is a clear error naming the key, never a silent default.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { BpfwasmError } from './errors.js';
import { CgroupLabelRules, CgroupRuleError, DEFAULT_CGROUP_RULES, SIGNAL_NAMES, findCgroupMounts, type CgroupRule } from './resolve/index.js';
import { isInlineKey, loadTrustPolicy } from './exporters/host/signing.js';
import { parseReference } from './exporters/oci/reference.js';
import { labelValueProblem } from './metrics/labels.js';

/** The package root, found from this file whether it runs from src/ or from dist/src/. */
export const PACKAGE_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

// `bench` is the benchmark sensor (ebpf/bench/README.md): off by default, not for production.
export const SENSORS = ['process', 'syscalls', 'tcp', 'blockio', 'runqlat', 'oom', 'bench'] as const;
export type SensorName = (typeof SENSORS)[number];

/**
 * Settings every sensor has; `ringBytes` 0 keeps the helper's default for that sensor.
 * `required`: its failure to load stops start-up; otherwise it is left off and reported.
 * `route`: 'auto' lets the helper's feature probes pick the hooks, else one of SENSOR_ROUTES.
 */
interface SensorCommon { enabled: boolean; required: boolean; ringBytes: number; route: string }

/** The routes a sensor can be forced onto (ebpf/<sensor>/README.md, "Routes"). */
export const SENSOR_ROUTES: Record<SensorName, readonly string[]> = {
  process: [], syscalls: [], tcp: ['tp_btf', 'fentry', 'kprobe'], blockio: ['tp_btf', 'raw_tp'], runqlat: ['task_storage', 'pid_hash'], oom: ['tp_btf', 'fentry', 'kprobe'], bench: [],
};

/** Each sensor's section (ebpf/<sensor>/README.md documents the options and their cost). */
export interface SensorConfigs {
  process: SensorCommon & {
    /**
     * Which exits the process exporter logs as `process_exit` events (README.md, "Logs to Loki"):
     * 'listed' those with an exit code in logExitCodes or a signal in logExitSignals.
     */
    logExits: 'listed' | 'nonzero' | 'signals' | 'none';
    logExitCodes: number[];
    logExitSignals: string[];
    /** Arguments a process_exec event keeps, argv[0] included (0: none); events and the API only, never a label. */
    maxArgs: number;
  };
  /** Opt-in: an attached sys_enter/sys_exit costs every syscall on the host (BENCHMARKS.md, eBPF sensors). */
  syscalls: SensorCommon & {
    /** Only this process id (0: any). */
    pid: number;
    /** Only tasks with this command name (at most 15 bytes; '': any). */
    comm: string;
    /** Only this cgroup v2 group: a path under the cgroup2 mount, or its numeric id ('': any). */
    cgroup: string;
    /** With `cgroup` a path: also every cgroup below it (a container's or slice's whole subtree). */
    subtree: boolean;
  };
  tcp: SensorCommon & {
    /** Add local_addr/remote_addr labels (one series per peer: mind the cardinality). */
    ipLabels: boolean;
    /** 'collapse' reports the ephemeral side's port as "ephemeral"; 'keep' keeps the number. */
    ephemeralPorts: 'collapse' | 'keep';
  };
  blockio: SensorCommon;
  runqlat: SensorCommon & {
    /** One histogram per cgroup instead of one for the node. */
    perCgroup: boolean;
  };
  oom: SensorCommon;
  /** Benchmark only (bench/throughput.mjs): a record per syscall of one process; costs every syscall while on. */
  bench: SensorCommon & {
    /** The process whose syscalls are recorded (0: none). */
    tgid: number;
  };
}

/** One `exporters.oci` entry: at most one following the current version and one the shadow candidate, per name. */
export interface OciExporterConfig { name: string; ref: string; pollSeconds: number; shadow: boolean }
export interface OciRegistryConfig { username: string; passwordFile: string; caFile: string; plainHttp: boolean }

export interface Config {
  listen: { host: string; port: number };
  helper: {
    path: string;
    ringBytes: number;
    wakeupBytes: number;
    pollMs: number;
    statsMs: number;
    batchBytes: number;
    /** Interval of the kernel-aggregated sensors' records (syscalls, runqlat, blockio). */
    aggregateMs: number;
  };
  sensors: SensorConfigs;
  exporters: {
    /** Load the built-in exporters shipped in exporters/build. */
    builtin: boolean;
    /** Further directories of *.wasm exporters, loaded after the built-ins. */
    dirs: string[];
    /** Hot reload: load, swap or unload a module of `dirs` when its file appears, changes or goes. */
    watch: boolean;
    maxSeriesPerExporter: number;
    maxLabelValueBytes: number;
    /** Deadline of one batch call in an exporter's worker; an overrun terminates and quarantines it. */
    batchTimeoutMs: number;
    /** Deadline of loading one exporter (compile, instantiate, bpfwasm_init). */
    initTimeoutMs: number;
    /** An exporter's budget in 64 KiB pages: its linear memory, tables, globals and segments together. */
    maxMemoryPages: number;
    /** Batches queued to one exporter's worker before further ones are dropped and counted. */
    queueBatches: number;
    /** Quarantine before the first restart, doubled on each failure in a row up to quarantineMaxMs. */
    quarantineBaseMs: number;
    quarantineMaxMs: number;
    /** Batches trapping in a row before the exporter is restarted from a fresh instance. */
    maxConsecutiveTraps: number;
    /** Worker threads the built-in exporters share, and as many the user modules share; each exporter in its own instance (src/exporters/README.md). */
    threads: number;
    /** Settings per exporter name, read by the module through the `config` import. */
    settings: Record<string, Record<string, string>>;
    /** Refuse a module of `dirs` unless `<module>.wasm.sig` verifies against a trusted key. */
    requireSignatures: boolean;
    /** Ed25519 public keys: PEM (SPKI) file paths, or inline keys (PEM text or its one-line base64 body). */
    trustedKeys: string[];
    /** Exporters followed in OCI registries (deploy/exporters.md): pulled, verified and swapped in when the reference moves. */
    oci: OciExporterConfig[];
    /** Per registry (host[:port]): credentials, a CA bundle, or plain HTTP for a registry on loopback. */
    registries: Record<string, OciRegistryConfig>;
    /** Deadline of one request to a registry. */
    ociTimeoutSeconds: number;
    /** The largest module (blob) pulled from a registry. */
    ociMaxModuleBytes: number;
  };
  metrics: {
    /** Series one metric may have before further ones are refused and counted. */
    maxSeriesPerMetric: number;
    /** Exporter series not updated for this long are removed (0: never). */
    seriesTtlSeconds: number;
    /** Also serve histograms as native (sparse exponential) histograms in the protobuf format. */
    nativeHistograms: boolean;
  };
  federate: {
    /** Added to every federated series that lacks the label. */
    externalLabels: Record<string, string>;
  };
  remoteWrite: {
    /** Receiver URL; empty disables remote write. */
    url: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    /** WriteRequests waiting to be sent before the oldest is dropped (and counted). */
    maxQueuedRequests: number;
    maxSamplesPerRequest: number;
    headers: Record<string, string>;
    bearerToken: string;
  };
  /** Who may take profiles over HTTP (/flamegraph); /metrics and /federate stay open. */
  http: {
    /** off: no /flamegraph; local: loopback clients only; token: `Authorization: Bearer` from profileTokenFile. */
    profile: 'off' | 'local' | 'token';
    profileTokenFile: string;
  };
  profile: {
    defaultHz: number;
    maxHz: number;
    defaultSeconds: number;
    maxSeconds: number;
    /** Profiles sampling at once; further requests get 429. */
    maxConcurrent: number;
    /** Recent profiles kept for /flamegraph/:id and diffs. */
    keep: number;
    /** Byte budget of the symbolizer's cache of ELF symbol tables (not file bytes), kept for profiles taken within 10 s of each other. */
    cacheBytes: number;
  };
  /** How exporters turn cgroup ids into labels (the `resolve` import, kinds 4–6). */
  cgroups: {
    /** Workload-label rules tried before the defaults (src/resolve/README.md); first match wins. */
    rules: CgroupRule[];
    /** Append DEFAULT_CGROUP_RULES (systemd units, containers, pods, user sessions). */
    defaultRules: boolean;
    /** Least time between two walks of the cgroup tree caused by unknown ids. */
    rescanIntervalMs: number;
  };
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
    /** stdout's form: 'auto' readable lines on a terminal and JSON lines otherwise, or always one. */
    format: 'auto' | 'json' | 'pretty';
    /** 'epoch' milliseconds (pino's default) or 'iso' 8601 text in each line's `time`. */
    time: 'epoch' | 'iso';
    loki: LokiConfig;
  };
  /** The gRPC API (src/api/proto/bpfwasm.proto) the `bpfwasm` CLI talks to. */
  api: ApiConfig;
}

/** `api`: a unix socket (mode 0600) always; TCP only with TLS and a bearer token. */
export interface ApiConfig {
  enabled: boolean;
  /** Unix socket path; its directory is created, a stale socket removed. */
  socket: string;
  /** Events one StreamEvents call may queue for a slow reader before it drops (and counts) them. */
  streamQueueEvents: number;
  tcp: {
    /** host:port to also listen on (e.g. 0.0.0.0:9746); '' disables TCP. */
    listen: string;
    /** PEM certificate chain and private key of the TLS listener. */
    tlsCert: string;
    tlsKey: string;
    /** File holding the bearer token every TCP call must present. */
    tokenFile: string;
  };
}

/** `log.loki`: ship the collector's log lines to Loki (README.md, "Logs to Loki"). */
export interface LokiConfig {
  /** Loki's base URL (the push path /loki/api/v1/push is added); empty disables shipping. */
  url: string;
  /** Stream labels added to every line; `job` and `node` override the defaults. */
  labels: Record<string, string>;
  /** How often buffered lines are pushed (one request at a time). */
  batchIntervalMs: number;
  /** Lines waiting to be pushed before the oldest is dropped (and counted). */
  maxBufferedLines: number;
  /** A push that takes longer is abandoned and its lines retried. */
  timeoutMs: number;
  basicAuth: { username: string; password: string };
  bearerToken: string;
  /** Extra request headers, e.g. X-Scope-OrgID for a multi-tenant Loki. */
  headers: Record<string, string>;
}

/** The rules the resolver applies: the configured ones, then the defaults unless turned off. */
export function cgroupRules(config: Config): CgroupRule[] {
  return [...config.cgroups.rules, ...(config.cgroups.defaultRules ? DEFAULT_CGROUP_RULES : [])];
}

export function defaultConfig(): Config {
  return {
    listen: { host: '0.0.0.0', port: 9745 },
    helper: {
      path: join(PACKAGE_ROOT, 'ebpf', 'build', 'bpfwasm-helper'),
      ringBytes: 4 << 20,
      wakeupBytes: 64 << 10,
      pollMs: 5,
      statsMs: 1000,
      // A frame (24-byte header + batch) fits one 64 KiB pipe read, so the decoder never stitches one.
      batchBytes: (64 << 10) - 24,
      aggregateMs: 1000,
    },
    sensors: {
      process: { enabled: true, required: false, ringBytes: 0, route: 'auto', logExits: 'listed', maxArgs: 20,
        // Not found / not executable (a broken deploy), and crashes and kills: not grep finding nothing.
        logExitCodes: [126, 127], logExitSignals: ['SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGKILL', 'SIGSEGV', 'SIGSYS'] },
      syscalls: { enabled: false, required: false, ringBytes: 0, route: 'auto', pid: 0, comm: '', cgroup: '', subtree: false },
      tcp: { enabled: true, required: false, ringBytes: 0, route: 'auto', ipLabels: false, ephemeralPorts: 'collapse' },
      blockio: { enabled: true, required: false, ringBytes: 0, route: 'auto' },
      runqlat: { enabled: true, required: false, ringBytes: 0, route: 'auto', perCgroup: false },
      oom: { enabled: true, required: false, ringBytes: 0, route: 'auto' },
      bench: { enabled: false, required: false, ringBytes: 0, route: 'auto', tgid: 0 },
    },
    exporters: {
      builtin: true, dirs: [], watch: true, maxSeriesPerExporter: 10_000, maxLabelValueBytes: 1024,
      batchTimeoutMs: 250, initTimeoutMs: 2000, maxMemoryPages: 256, queueBatches: 64,
      quarantineBaseMs: 1000, quarantineMaxMs: 60_000, maxConsecutiveTraps: 16, threads: 1, settings: {},
      requireSignatures: false, trustedKeys: [],
      oci: [], registries: {}, ociTimeoutSeconds: 30, ociMaxModuleBytes: 16 << 20,
    },
    metrics: { maxSeriesPerMetric: 10_000, seriesTtlSeconds: 3600, nativeHistograms: false },
    // In a pod the hostname is the pod's name: the DaemonSet passes the node's name as NODE_NAME.
    federate: { externalLabels: { node: process.env.NODE_NAME || hostname() } },
    remoteWrite: {
      url: '',
      intervalSeconds: 15,
      timeoutSeconds: 10,
      maxQueuedRequests: 100,
      maxSamplesPerRequest: 2000,
      headers: {},
      bearerToken: '',
    },
    http: { profile: 'local', profileTokenFile: '' },
    profile: { defaultHz: 99, maxHz: 1000, defaultSeconds: 10, maxSeconds: 300, maxConcurrent: 1, keep: 20, cacheBytes: 64 << 20 },
    cgroups: { rules: [], defaultRules: true, rescanIntervalMs: 1000 },
    log: {
      level: 'info',
      format: 'auto',
      time: 'epoch',
      loki: {
        url: '',
        labels: {},
        batchIntervalMs: 1000,
        maxBufferedLines: 10_000,
        timeoutMs: 5000,
        basicAuth: { username: '', password: '' },
        bearerToken: '',
        headers: {},
      },
    },
    api: {
      enabled: true,
      socket: '/run/bpfwasm/api.sock',
      streamQueueEvents: 4096,
      tcp: { listen: '', tlsCert: '', tlsKey: '', tokenFile: '' },
    },
  };
}

type Check = (v: unknown, key: string) => void;

const integer = (min: number, max: number): Check => (v, key) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(key, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
};
const powerOfTwo = (min: number, max: number): Check => (v, key) => {
  integer(min, max)(v, key);
  if (((v as number) & ((v as number) - 1)) !== 0) throw invalid(key, `must be a power of two, got ${v}`);
};
const string: Check = (v, key) => {
  if (typeof v !== 'string' || v === '') throw invalid(key, `must be a non-empty string, got ${JSON.stringify(v)}`);
};
const boolean: Check = (v, key) => {
  if (typeof v !== 'boolean') throw invalid(key, `must be true or false, got ${JSON.stringify(v)}`);
};
const oneOf = (values: readonly string[]): Check => (v, key) => {
  if (typeof v !== 'string' || !values.includes(v)) throw invalid(key, `must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
};
const anyString: Check = (v, key) => {
  if (typeof v !== 'string') throw invalid(key, `must be a string, got ${JSON.stringify(v)}`);
};
/** A mapping of label-like names to strings (external labels, HTTP headers). */
const stringMap = (nameRe: RegExp, what: string): Check => (v, key) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(key, 'must be a mapping of names to strings');
  for (const [k, val] of Object.entries(v)) {
    if (!nameRe.test(k)) throw invalid(`${key}.${k}`, `is not a valid ${what}`);
    if (typeof val !== 'string') throw invalid(`${key}.${k}`, `must be a string, got ${JSON.stringify(val)}`);
  }
};
/** Label names and values written into every exposition (federation's external labels). */
const labelMap: Check = (v, key) => {
  stringMap(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label name')(v, key);
  for (const [k, val] of Object.entries(v as Record<string, string>)) {
    const problem = labelValueProblem(val);
    if (problem) throw invalid(`${key}.${k}`, problem);
  }
};
const httpUrl: Check = (v, key) => {
  anyString(v, key);
  if (v === '') return;
  let url: URL;
  try {
    url = new URL(v as string);
  } catch {
    throw invalid(key, `must be an http(s) URL, got ${JSON.stringify(v)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(key, `must be an http(s) URL, got ${JSON.stringify(v)}`);
};
const MAX_SOCKET_PATH_BYTES = 107;
const DNS_NAME = /^(?=.{1,253}\.?$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
/** Whether `v` is an IP address or a syntactically valid DNS host name. */
export const isHost = (v: string): boolean => isIP(v) !== 0 || DNS_NAME.test(v);
const host: Check = (v, key) => {
  if (typeof v !== 'string' || !isHost(v)) throw invalid(key, `must be an IP address or a host name, got ${JSON.stringify(v)}`);
};
/** '' or host:port with a port 1-65535 (an IPv6 host in brackets). */
const hostPort: Check = (v, key) => {
  anyString(v, key);
  if (v === '') return;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d+)$/.exec(v as string);
  if (!m || !isHost(m[1] ?? m[2]!) || Number(m[3]) < 1 || Number(m[3]) > 65535) {
    throw invalid(key, `must be host:port (e.g. 0.0.0.0:9746), got ${JSON.stringify(v)}`);
  }
};
/** 0 (the default) or a power of two in range. */
const ringSize: Check = (v, key) => {
  if (v === 0) return;
  powerOfTwo(4096, 1 << 30)(v, key);
};
const shortString = (max: number): Check => (v, key) => {
  anyString(v, key);
  if (Buffer.byteLength(v as string) > max) throw invalid(key, `must be at most ${max} bytes, got ${JSON.stringify(v)}`);
};
/** exporters.settings: exporter name → (setting → string). */
const settingsMap: Check = (v, key) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(key, 'must be a mapping of exporter names to settings');
  for (const [name, settings] of Object.entries(v)) {
    // `depth: 3` and `verbose: true` mean "3" and "true": the module reads every setting as text.
    if (typeof settings === 'object' && settings !== null && !Array.isArray(settings)) {
      for (const [k, val] of Object.entries(settings)) {
        if ((typeof val === 'number' && Number.isFinite(val)) || typeof val === 'boolean') (settings as Record<string, unknown>)[k] = String(val);
      }
    }
    stringMap(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'setting name')(settings, `${key}.${name}`);
  }
};
/** cgroups.rules: a list of { match, label }; the regexes are checked in buildConfig. */
const ruleList: Check = (v, key) => {
  if (!Array.isArray(v)) throw invalid(key, 'must be a list of { match, label } rules');
  v.forEach((rule, i) => {
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) throw invalid(`${key}[${i}]`, 'must be a mapping with match and label');
    for (const k of Object.keys(rule)) if (k !== 'match' && k !== 'label') throw invalid(`${key}[${i}].${k}`, 'is not a known setting (known: match, label)');
    string((rule as CgroupRule).match, `${key}[${i}].match`);
    anyString((rule as CgroupRule).label, `${key}[${i}].label`);
  });
};
const stringList: Check = (v, key) => {
  if (!Array.isArray(v)) throw invalid(key, 'must be a list of paths');
  v.forEach((item, i) => string(item, `${key}[${i}]`));
};

/** exporters.oci: a list of { name, ref, pollSeconds, shadow }; defaults filled in. */
const ociList: Check = (v, key) => {
  if (!Array.isArray(v)) throw invalid(key, 'must be a list of { name, ref, pollSeconds, shadow }');
  const roles = new Set<string>();
  v.forEach((entry, i) => {
    const at = `${key}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid(at, 'must be a mapping with name and ref');
    const known = ['name', 'ref', 'pollSeconds', 'shadow'];
    for (const k of Object.keys(entry)) if (!known.includes(k)) throw invalid(`${at}.${k}`, `is not a known setting (known: ${known.join(', ')})`);
    const e = entry as Partial<OciExporterConfig>;
    if (typeof e.name !== 'string' || !/^[a-z0-9_-]{1,64}$/.test(e.name)) throw invalid(`${at}.name`, 'must be an exporter name ([a-z0-9_-]{1,64})');
    string(e.ref, `${at}.ref`);
    try {
      parseReference(e.ref as string);
    } catch (err) {
      throw invalid(`${at}.ref`, `is not an OCI reference: it ${(err as Error).message}`);
    }
    e.pollSeconds ??= 60;
    integer(1, 86_400)(e.pollSeconds, `${at}.pollSeconds`);
    e.shadow ??= false;
    boolean(e.shadow, `${at}.shadow`);
    const role = `${e.name} ${e.shadow ? 'shadow' : 'current'}`;
    if (roles.has(role)) throw invalid(at, `is a second entry for ${e.name}'s ${e.shadow ? 'shadow candidate' : 'current version'}: one of each per name`);
    roles.add(role);
  });
};
/** exporters.registries: host[:port] → { username, passwordFile, caFile, plainHttp }; defaults filled in. */
const registryMap: Check = (v, key) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(key, 'must be a mapping of registry host[:port] to settings');
  for (const [host, settings] of Object.entries(v)) {
    const at = `${key}.${JSON.stringify(host)}`;
    try {
      parseReference(`${host}/x`);
    } catch {
      throw invalid(at, 'is not a registry host[:port]');
    }
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw invalid(at, 'must be a mapping');
    const known = ['username', 'passwordFile', 'caFile', 'plainHttp'];
    for (const k of Object.keys(settings)) if (!known.includes(k)) throw invalid(`${at}.${k}`, `is not a known setting (known: ${known.join(', ')})`);
    const r = settings as Partial<OciRegistryConfig>;
    r.username ??= '';
    r.passwordFile ??= '';
    r.caFile ??= '';
    r.plainHttp ??= false;
    anyString(r.username, `${at}.username`);
    anyString(r.passwordFile, `${at}.passwordFile`);
    anyString(r.caFile, `${at}.caFile`);
    boolean(r.plainHttp, `${at}.plainHttp`);
    if ((r.username === '') !== (r.passwordFile === '')) throw invalid(at, 'needs both username and passwordFile, or neither');
  }
};
const listOf = (item: Check): Check => (v, key) => {
  if (!Array.isArray(v)) throw invalid(key, 'must be a list');
  v.forEach((x, i) => item(x, `${key}[${i}]`));
};

const route = (sensor: SensorName): Check => oneOf(['auto', ...SENSOR_ROUTES[sensor]]);

/** The shape of a config file: nested objects of checks. Unknown keys are errors. */
const SHAPE = {
  listen: { host, port: integer(0, 65535) },
  helper: {
    path: string,
    ringBytes: powerOfTwo(4096, 1 << 30),
    wakeupBytes: integer(0, 1 << 30),
    pollMs: integer(1, 1000),
    statsMs: integer(50, 60_000),
    batchBytes: integer(4096, 1 << 20),
    aggregateMs: integer(10, 3_600_000),
  },
  sensors: {
    process: { enabled: boolean, required: boolean, ringBytes: ringSize, route: route('process'), logExits: oneOf(['listed', 'nonzero', 'signals', 'none']), maxArgs: integer(0, 128),
      logExitCodes: listOf(integer(1, 255)), logExitSignals: listOf(oneOf([...SIGNAL_NAMES].filter(([n]) => n < 32).map(([, name]) => name))) },
    syscalls: { enabled: boolean, required: boolean, ringBytes: ringSize, route: route('syscalls'), pid: integer(0, 2 ** 31 - 1), comm: shortString(15), cgroup: anyString, subtree: boolean },
    tcp: { enabled: boolean, required: boolean, ringBytes: ringSize, route: route('tcp'), ipLabels: boolean, ephemeralPorts: oneOf(['collapse', 'keep']) },
    blockio: { enabled: boolean, required: boolean, ringBytes: ringSize, route: route('blockio') },
    runqlat: { enabled: boolean, required: boolean, ringBytes: ringSize, route: route('runqlat'), perCgroup: boolean },
    oom: { enabled: boolean, required: boolean, ringBytes: ringSize, route: route('oom') },
    bench: { enabled: boolean, required: boolean, ringBytes: ringSize, route: route('bench'), tgid: integer(0, 2 ** 31 - 1) },
  },
  exporters: {
    builtin: boolean,
    dirs: stringList,
    watch: boolean,
    maxSeriesPerExporter: integer(1, 10_000_000),
    maxLabelValueBytes: integer(1, 65536),
    batchTimeoutMs: integer(1, 60_000),
    initTimeoutMs: integer(10, 600_000),
    maxMemoryPages: integer(1, 65536),
    queueBatches: integer(1, 65536),
    quarantineBaseMs: integer(1, 3_600_000),
    quarantineMaxMs: integer(1, 86_400_000),
    maxConsecutiveTraps: integer(1, 1_000_000),
    threads: integer(1, 64),
    settings: settingsMap,
    requireSignatures: boolean,
    trustedKeys: stringList,
    oci: ociList,
    registries: registryMap,
    ociTimeoutSeconds: integer(1, 600),
    ociMaxModuleBytes: integer(1024, 256 << 20),
  },
  metrics: {
    maxSeriesPerMetric: integer(1, 10_000_000),
    seriesTtlSeconds: integer(0, 365 * 86400),
    nativeHistograms: boolean,
  },
  federate: { externalLabels: labelMap },
  remoteWrite: {
    url: httpUrl,
    intervalSeconds: integer(1, 3600),
    timeoutSeconds: integer(1, 300),
    maxQueuedRequests: integer(1, 100_000),
    maxSamplesPerRequest: integer(1, 1_000_000),
    headers: stringMap(/^[A-Za-z0-9-]+$/, 'HTTP header name'),
    bearerToken: anyString,
  },
  http: { profile: oneOf(['off', 'local', 'token']), profileTokenFile: anyString },
  // The helper accepts 1–1000 Hz and 1–300 s (ebpf/PROTOCOL.md), so those are the outer bounds.
  profile: {
    defaultHz: integer(1, 1000),
    maxHz: integer(1, 1000),
    defaultSeconds: integer(1, 300),
    maxSeconds: integer(1, 300),
    maxConcurrent: integer(1, 16),
    keep: integer(1, 1000),
    cacheBytes: integer(0, 4 * 1024 ** 3),
  },
  cgroups: { rules: ruleList, defaultRules: boolean, rescanIntervalMs: integer(0, 3_600_000) },
  log: {
    level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    format: oneOf(['auto', 'json', 'pretty']),
    time: oneOf(['epoch', 'iso']),
    loki: {
      url: httpUrl,
      // `level` and `event` come from each line; Loki reserves names starting with "__".
      labels: stringMap(/^(?!__)(?!(level|event)$)[a-zA-Z_][a-zA-Z0-9_]*$/, 'Loki label name (not level, event or __*)'),
      batchIntervalMs: integer(10, 60_000),
      maxBufferedLines: integer(1, 1_000_000),
      timeoutMs: integer(100, 300_000),
      basicAuth: { username: anyString, password: anyString },
      bearerToken: anyString,
      headers: stringMap(/^[A-Za-z0-9-]+$/, 'HTTP header name'),
    },
  },
  api: {
    enabled: boolean,
    socket: string,
    streamQueueEvents: integer(1, 1_000_000),
    tcp: { listen: hostPort, tlsCert: anyString, tlsKey: anyString, tokenFile: anyString },
  },
};

interface Shape { [key: string]: Check | Shape }

function invalid(key: string, why: string): BpfwasmError {
  return new BpfwasmError('CONFIG_INVALID', `config: ${key} ${why}`);
}

function merge(target: Record<string, unknown>, input: unknown, shape: Shape, path: string): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(path || 'the document', 'must be a mapping');
  }
  for (const [k, v] of Object.entries(input)) {
    // A key that is not a plain name ("", "a b") is quoted, so the message still shows where it is.
    const name = /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
    const key = path ? `${path}.${name}` : name;
    // Own keys only: `toString` or `__proto__` in a file must not reach Object.prototype.
    const rule = Object.hasOwn(shape, k) ? shape[k] : undefined;
    if (!rule) throw invalid(key, `is not a known setting (known: ${Object.keys(shape).join(', ')})`);
    if (typeof rule === 'function') {
      rule(v, key);
      target[k] = v;
    } else {
      merge(target[k] as Record<string, unknown>, v, rule, key);
    }
  }
}

/** Builds a config from a parsed document (already loaded from YAML/JSON) over the defaults. */
export function buildConfig(doc: unknown, baseDir = process.cwd()): Config {
  const config = defaultConfig();
  if (doc !== null && doc !== undefined) merge(config as unknown as Record<string, unknown>, doc, SHAPE as Shape, '');
  if (!SENSORS.some((s) => config.sensors[s].enabled)) throw invalid('sensors', 'must enable at least one sensor');
  try {
    new CgroupLabelRules(config.cgroups.rules); // RE2 syntax and group references, before anything starts
  } catch (e) {
    if (e instanceof CgroupRuleError) throw new BpfwasmError('CONFIG_INVALID', `config: ${e.message}`);
    throw e;
  }
  for (const s of SENSORS) {
    if (config.sensors[s].required && !config.sensors[s].enabled) throw invalid(`sensors.${s}.required`, `needs sensors.${s}.enabled`);
  }
  const sc = config.sensors.syscalls;
  if (sc.cgroup !== '') cgroupId(sc.cgroup, 'sensors.syscalls.cgroup'); // fail at load, not at start
  if (sc.subtree && cgroupLevel(sc.cgroup) === undefined) {
    throw invalid('sensors.syscalls.subtree', 'needs sensors.syscalls.cgroup to be a path (a numeric id has no known depth)');
  }
  if (config.helper.wakeupBytes >= config.helper.ringBytes) {
    throw invalid('helper.wakeupBytes', `must be smaller than helper.ringBytes (${config.helper.ringBytes})`);
  }
  const prof = config.profile;
  if (prof.defaultHz > prof.maxHz) throw invalid('profile.defaultHz', `must not exceed profile.maxHz (${prof.maxHz})`);
  if (prof.defaultSeconds > prof.maxSeconds) {
    throw invalid('profile.defaultSeconds', `must not exceed profile.maxSeconds (${prof.maxSeconds})`);
  }
  const loki = config.log.loki;
  if (loki.url !== '') {
    const url = new URL(loki.url);
    if (url.username || url.password) throw invalid('log.loki.url', 'must not carry credentials; use log.loki.basicAuth or log.loki.bearerToken');
  }
  if ((loki.basicAuth.username === '') !== (loki.basicAuth.password === '')) {
    throw invalid('log.loki.basicAuth', 'needs both username and password');
  }
  if (loki.basicAuth.username !== '' && loki.bearerToken !== '') {
    throw invalid('log.loki.bearerToken', 'cannot be combined with log.loki.basicAuth');
  }
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const tcp = config.api.tcp;
  if (tcp.listen !== '') {
    // A network listener without encryption and a token would hand the node to anyone who can reach it.
    const missing = (['tlsCert', 'tlsKey', 'tokenFile'] as const).filter((k) => tcp[k] === '');
    if (missing.length) {
      throw invalid('api.tcp.listen', `needs ${missing.map((k) => `api.tcp.${k}`).join(', ')}: the TCP API is served only with TLS and a bearer token`);
    }
    tcp.tlsCert = abs(tcp.tlsCert);
    tcp.tlsKey = abs(tcp.tlsKey);
    tcp.tokenFile = abs(tcp.tokenFile);
  }
  if (config.http.profile === 'token') {
    if (config.http.profileTokenFile === '') throw invalid('http.profileTokenFile', 'is needed by http.profile: token');
    config.http.profileTokenFile = abs(config.http.profileTokenFile);
  }
  config.api.socket = abs(config.api.socket);
  // sockaddr_un holds 108 bytes with the terminating NUL; a longer path cannot be bound.
  if (Buffer.byteLength(config.api.socket) > MAX_SOCKET_PATH_BYTES) {
    throw invalid('api.socket', `must be at most ${MAX_SOCKET_PATH_BYTES} bytes as an absolute path (a unix socket address), got ${Buffer.byteLength(config.api.socket)}`);
  }
  config.helper.path = abs(config.helper.path);
  config.exporters.dirs = config.exporters.dirs.map(abs);
  // Signatures: key files are read now, so a bad key fails the config load, not the first module.
  config.exporters.trustedKeys = config.exporters.trustedKeys.map((k) => (isInlineKey(k) ? k : abs(k)));
  loadTrustPolicy(config.exporters);
  for (const [host, r] of Object.entries(config.exporters.registries)) {
    if (r.passwordFile !== '') r.passwordFile = readableFile(abs(r.passwordFile), `exporters.registries.${JSON.stringify(host)}.passwordFile`);
    if (r.caFile !== '') r.caFile = readableFile(abs(r.caFile), `exporters.registries.${JSON.stringify(host)}.caFile`);
  }
  return config;
}

/** `path` if it can be read now: a missing secret fails the config load, not the first poll. */
function readableFile(path: string, key: string): string {
  try {
    readFileSync(path);
  } catch (e) {
    throw invalid(key, `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (${path})`);
  }
  return path;
}

export function loadConfig(file?: string): Config {
  if (!file) return buildConfig(undefined);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BpfwasmError('CONFIG_UNREADABLE', `config: cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    // A warning (an unknown tag) would be printed raw to stderr and the value taken as a string: refused instead.
    const document = parseDocument(text, { logLevel: 'silent' });
    const problem = document.errors[0] ?? document.warnings[0];
    if (problem) throw problem;
    doc = document.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new BpfwasmError('CONFIG_INVALID', `config: ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return buildConfig(doc, dirname(resolve(file)));
}

/** The cgroup2 mount point, from /proc/self/mountinfo (on a hybrid host /sys/fs/cgroup/unified). */
export function cgroup2Mount(mountinfo = '/proc/self/mountinfo'): string | undefined {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return undefined;
  }
  return findCgroupMounts(text).v2?.mountPoint; // the resolver's parser: one reading of mountinfo's format
}

/** A cgroup v2 id from a numeric id, or from a path (absolute, or under the cgroup2 mount). */
export function cgroupId(value: string, key: string): bigint {
  if (/^[0-9]+$/.test(value)) return BigInt(value);
  const mount = cgroup2Mount();
  if (mount) {
    // A path under the mount is taken as is; anything else is relative to the mount.
    const path = value === mount || value.startsWith(`${mount}/`) ? value : join(mount, value);
    try {
      const st = statSync(path, { bigint: true });
      if (st.isDirectory()) return st.ino; // a cgroup v2 id is its directory's inode number
    } catch {
      // reported below
    }
  }
  throw invalid(key, `names no cgroup v2 group: ${JSON.stringify(value)} is neither an id nor a directory${mount ? ` (the cgroup2 mount is ${mount})` : ' (no cgroup2 mount found)'}`);
}

/** Depth of a cgroup path below the cgroup2 root (the root is 0), or undefined for an id or ''. */
function cgroupLevel(value: string): number | undefined {
  if (value === '' || /^[0-9]+$/.test(value)) return undefined;
  const mount = cgroup2Mount();
  const rel = mount && (value === mount || value.startsWith(`${mount}/`)) ? value.slice(mount.length) : value;
  return rel.split('/').filter(Boolean).length;
}

/** The helper's command line for a config (ebpf/PROTOCOL.md). */
export function helperArgs(config: Config): string[] {
  const sensors = SENSORS.filter((s) => config.sensors[s].enabled);
  const h = config.helper;
  const args = [
    '--sensors', sensors.join(','),
    '--ring-bytes', String(h.ringBytes),
    '--wakeup-bytes', String(h.wakeupBytes),
    '--poll-ms', String(h.pollMs),
    '--stats-ms', String(h.statsMs),
    '--batch-bytes', String(h.batchBytes),
  ];
  const required = sensors.filter((s) => config.sensors[s].required);
  if (required.length) args.push('--require', required.join(','));
  if (sensors.some((s) => AGGREGATING.has(s))) args.push('--aggregate-ms', String(h.aggregateMs));
  for (const s of sensors) {
    if (config.sensors[s].ringBytes) args.push('--ring', `${s}=${config.sensors[s].ringBytes}`);
    if (config.sensors[s].route !== 'auto') args.push('--route', `${s}=${config.sensors[s].route}`);
  }
  const set = (sensor: SensorName, variable: string, value: string | number) => args.push('--set', `${sensor}.${variable}=${value}`);
  const sc = config.sensors.syscalls;
  if (sc.enabled) {
    if (sc.pid) set('syscalls', 'filter_tgid', sc.pid);
    if (sc.comm) set('syscalls', 'filter_comm', sc.comm);
    // The root's whole subtree is every task: no filter at all. Level 0 would mean "only the root".
    const level = sc.subtree ? cgroupLevel(sc.cgroup)! : 0;
    if (sc.cgroup && !(sc.subtree && level === 0)) set('syscalls', 'filter_cgroup', String(cgroupId(sc.cgroup, 'sensors.syscalls.cgroup')));
    if (level > 0) set('syscalls', 'filter_cgroup_level', level);
  }
  if (config.sensors.process.enabled) set('process', 'max_args', config.sensors.process.maxArgs);
  if (config.sensors.runqlat.enabled && config.sensors.runqlat.perCgroup) set('runqlat', 'per_cgroup', 1);
  if (config.sensors.bench.enabled && config.sensors.bench.tgid) set('bench', 'tgid', config.sensors.bench.tgid);
  return args;
}

/** Sensors that send aggregate records (PROTOCOL.md). */
const AGGREGATING: ReadonlySet<SensorName> = new Set(['syscalls', 'blockio', 'runqlat']);

/** Settings of sensor sections that are the collector's or the helper's, not its exporter's. */
const SENSOR_COMMON_KEYS: ReadonlySet<string> = new Set(['enabled', 'required', 'ringBytes', 'route', 'maxArgs']);

/**
 * What an exporter reads through the `config` import: a built-in exporter gets its sensor's
 * options as strings (e.g. tcp `ipLabels` "false"), then `exporters.settings.<name>` on top.
 */
/** The exporter runtime's limits (RuntimeLimits) from `exporters.*`, for the collector and replays alike. */
export function exporterLimits(config: Config) {
  const e = config.exporters;
  return {
    batchTimeoutMs: e.batchTimeoutMs,
    initTimeoutMs: e.initTimeoutMs,
    maxMemoryPages: e.maxMemoryPages,
    queueBatches: e.queueBatches,
    quarantineBaseMs: e.quarantineBaseMs,
    quarantineMaxMs: e.quarantineMaxMs,
    maxConsecutiveTraps: e.maxConsecutiveTraps,
    threads: e.threads,
  };
}

export function exporterSettings(config: Config, exporter: string): Record<string, string> {
  const out: Record<string, string> = {};
  const section = (SENSORS as readonly string[]).includes(exporter) ? config.sensors[exporter as SensorName] : undefined;
  for (const [k, v] of Object.entries(section ?? {})) if (!SENSOR_COMMON_KEYS.has(k)) out[k] = String(v);
  return { ...out, ...config.exporters.settings[exporter] };
}
