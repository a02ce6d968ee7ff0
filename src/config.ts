// Collector configuration: YAML (or JSON) from --config, merged over defaults and validated
// so that a typo or a wrong type is a clear error naming the key, never a silent default.
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { BpfwasmError } from './errors.js';

/** The package root, found from this file whether it runs from src/ or from dist/src/. */
export const PACKAGE_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

export const SENSORS = ['process'] as const;
export type SensorName = (typeof SENSORS)[number];

export interface Config {
  listen: { host: string; port: number };
  helper: {
    path: string;
    ringBytes: number;
    wakeupBytes: number;
    pollMs: number;
    statsMs: number;
    batchBytes: number;
  };
  sensors: Record<SensorName, { enabled: boolean }>;
  exporters: {
    /** Load the built-in exporters shipped in exporters/build. */
    builtin: boolean;
    /** Further directories of *.wasm exporters, loaded after the built-ins. */
    dirs: string[];
    maxSeriesPerExporter: number;
    maxLabelValueBytes: number;
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
  profile: {
    defaultHz: number;
    maxHz: number;
    defaultSeconds: number;
    maxSeconds: number;
    /** Profiles sampling at once; further requests get 429. */
    maxConcurrent: number;
    /** Recent profiles kept for /flamegraph/:id and diffs. */
    keep: number;
  };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
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
      batchBytes: 64 << 10,
    },
    sensors: { process: { enabled: true } },
    exporters: { builtin: true, dirs: [], maxSeriesPerExporter: 10_000, maxLabelValueBytes: 1024 },
    metrics: { maxSeriesPerMetric: 10_000, seriesTtlSeconds: 3600, nativeHistograms: false },
    federate: { externalLabels: { node: hostname() } },
    remoteWrite: {
      url: '',
      intervalSeconds: 15,
      timeoutSeconds: 10,
      maxQueuedRequests: 100,
      maxSamplesPerRequest: 2000,
      headers: {},
      bearerToken: '',
    },
    profile: { defaultHz: 99, maxHz: 1000, defaultSeconds: 10, maxSeconds: 300, maxConcurrent: 1, keep: 20 },
    log: { level: 'info' },
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
const stringList: Check = (v, key) => {
  if (!Array.isArray(v)) throw invalid(key, 'must be a list of paths');
  v.forEach((item, i) => string(item, `${key}[${i}]`));
};

/** The shape of a config file: nested objects of checks. Unknown keys are errors. */
const SHAPE = {
  listen: { host: string, port: integer(0, 65535) },
  helper: {
    path: string,
    ringBytes: powerOfTwo(4096, 1 << 30),
    wakeupBytes: integer(0, 1 << 30),
    pollMs: integer(1, 1000),
    statsMs: integer(50, 60_000),
    batchBytes: integer(4096, 1 << 20),
  },
  sensors: Object.fromEntries(SENSORS.map((s) => [s, { enabled: boolean }])),
  exporters: {
    builtin: boolean,
    dirs: stringList,
    maxSeriesPerExporter: integer(1, 10_000_000),
    maxLabelValueBytes: integer(1, 65536),
  },
  metrics: {
    maxSeriesPerMetric: integer(1, 10_000_000),
    seriesTtlSeconds: integer(0, 365 * 86400),
    nativeHistograms: boolean,
  },
  federate: { externalLabels: stringMap(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label name') },
  remoteWrite: {
    url: httpUrl,
    intervalSeconds: integer(1, 3600),
    timeoutSeconds: integer(1, 300),
    maxQueuedRequests: integer(1, 100_000),
    maxSamplesPerRequest: integer(1, 1_000_000),
    headers: stringMap(/^[A-Za-z0-9-]+$/, 'HTTP header name'),
    bearerToken: anyString,
  },
  // The helper accepts 1–1000 Hz and 1–300 s (ebpf/PROTOCOL.md), so those are the outer bounds.
  profile: {
    defaultHz: integer(1, 1000),
    maxHz: integer(1, 1000),
    defaultSeconds: integer(1, 300),
    maxSeconds: integer(1, 300),
    maxConcurrent: integer(1, 16),
    keep: integer(1, 1000),
  },
  log: { level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) },
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
    const key = path ? `${path}.${k}` : k;
    const rule = shape[k];
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
  if (config.helper.wakeupBytes >= config.helper.ringBytes) {
    throw invalid('helper.wakeupBytes', `must be smaller than helper.ringBytes (${config.helper.ringBytes})`);
  }
  const prof = config.profile;
  if (prof.defaultHz > prof.maxHz) throw invalid('profile.defaultHz', `must not exceed profile.maxHz (${prof.maxHz})`);
  if (prof.defaultSeconds > prof.maxSeconds) {
    throw invalid('profile.defaultSeconds', `must not exceed profile.maxSeconds (${prof.maxSeconds})`);
  }
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  config.helper.path = abs(config.helper.path);
  config.exporters.dirs = config.exporters.dirs.map(abs);
  return config;
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
    doc = parse(text);
  } catch (err) {
    throw new BpfwasmError('CONFIG_INVALID', `config: ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return buildConfig(doc, dirname(resolve(file)));
}

/** The helper's command line for a config (ebpf/PROTOCOL.md). */
export function helperArgs(config: Config): string[] {
  const sensors = SENSORS.filter((s) => config.sensors[s].enabled);
  const h = config.helper;
  return [
    '--sensors', sensors.join(','),
    '--ring-bytes', String(h.ringBytes),
    '--wakeup-bytes', String(h.wakeupBytes),
    '--poll-ms', String(h.pollMs),
    '--stats-ms', String(h.statsMs),
    '--batch-bytes', String(h.batchBytes),
  ];
}
