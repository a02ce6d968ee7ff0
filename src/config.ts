// Collector configuration: YAML (or JSON) from --config, validated against the one schema
// (src/config-schema.ts) with its defaults filled in, so that a typo or a wrong type is a
// clear error naming the key, never a silent default.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { Config } from './config-schema.js';
import { checkerFor, invalid, type SchemaNode } from './config-errors.js';
import { BpfwasmError } from './errors.js';
import { isInlineKey, loadTrustPolicy } from './exporters/host/signing.js';
import { CONFIG_SCHEMA, validateConfig } from './generated/config-validator.js';
import { EXPORTER_OPTIONS, SENSORS, type SensorName } from './generated/sensors.js';
import { PACKAGE_ROOT } from './package-root.js';
import { cgroupLevel } from './resolve/cgroup-paths.js';
import { CgroupLabelRules, CgroupRuleError, DEFAULT_CGROUP_RULES, type CgroupRule } from './resolve/index.js';

export type { ApiConfig, Config, LokiConfig, OciExporterConfig, OciRegistryConfig } from './config-schema.js';
export { SENSORS, type SensorConfigs, type SensorName } from './generated/sensors.js';
export { isHost } from './config-rules.js';

/** The rules the resolver applies: the configured ones, then the defaults unless turned off. */
export function cgroupRules(config: Config): CgroupRule[] {
  return [...config.cgroups.rules, ...(config.cgroups.defaultRules ? DEFAULT_CGROUP_RULES : [])];
}

const MAX_SOCKET_PATH_BYTES = 107;

/** The collector's schema, precompiled at build time (scripts/gen-config-validator.mjs). */
const checkConfig = checkerFor(CONFIG_SCHEMA as SchemaNode, validateConfig);

/** The defaults the schema cannot hold: they depend on where bpfwasm runs. */
function fillComputedDefaults(config: Config): Config {
  config.helper.path ??= join(PACKAGE_ROOT, 'ebpf', 'build', 'bpfwasm-helper');
  // In a pod the hostname is the pod's name: the DaemonSet passes the node's name as NODE_NAME.
  config.federate.externalLabels ??= { node: process.env.NODE_NAME || hostname() };
  return config;
}

/** A document checked and completed with the defaults (nothing resolved or cross-checked yet). */
function completed(doc: unknown): Config {
  return fillComputedDefaults(checkConfig(doc ?? {}) as Config);
}

export function defaultConfig(): Config {
  return completed({});
}

/** Builds a config from a parsed document (already loaded from YAML/JSON) over the defaults. */
export function buildConfig(doc: unknown, baseDir = process.cwd()): Config {
  const config = completed(doc);
  const roles = new Set<string>();
  config.exporters.oci.forEach((e, i) => {
    const role = `${e.name} ${e.shadow ? 'shadow' : 'current'}`;
    if (roles.has(role)) throw invalid(`exporters.oci[${i}]`, `is a second entry for ${e.name}'s ${e.shadow ? 'shadow candidate' : 'current version'}: one of each per name`);
    roles.add(role);
  });
  for (const [host, r] of Object.entries(config.exporters.registries)) {
    if ((r.username === '') !== (r.passwordFile === '')) throw invalid(`exporters.registries.${JSON.stringify(host)}`, 'needs both username and passwordFile, or neither');
  }
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
  if (sc.subtree && cgroupLevel(sc.cgroup) === undefined) {
    throw invalid('sensors.syscalls.subtree', 'needs sensors.syscalls.cgroup to be a path (a numeric id has no known depth)');
  }
  if (config.helper.wakeupBytes && config.helper.wakeupBytes >= config.helper.ringBytes) {
    throw invalid('helper.wakeupBytes', `must be smaller than helper.ringBytes (${config.helper.ringBytes})`);
  }
  if (config.helper.busyPollMs && config.helper.busyPollMs < config.helper.pollMs) {
    throw invalid('helper.busyPollMs', `must be 0 or at least helper.pollMs (${config.helper.pollMs})`);
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

/**
 * What an exporter reads through the `config` import: a built-in exporter gets its sensor's
 * options as strings (e.g. tcp `ipLabels` "false"), then `exporters.settings.<name>` on top.
 */
export function exporterSettings(config: Config, exporter: string): Record<string, string> {
  const out: Record<string, string> = {};
  if ((SENSORS as readonly string[]).includes(exporter)) {
    const section = config.sensors[exporter as SensorName] as unknown as Record<string, unknown>;
    for (const k of EXPORTER_OPTIONS[exporter as SensorName]) out[k] = String(section[k]);
  }
  return { ...out, ...config.exporters.settings[exporter] };
}
