// Collector configuration: YAML (or JSON) from --config, validated against the one schema
// (src/config-schema.ts) with its defaults filled in, so that a typo or a wrong type is a
// clear error naming the key, never a silent default.
import { Ajv, type ErrorObject, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigSchema, type Config } from './config-schema.js';
import { BpfwasmError } from './errors.js';
import { isInlineKey, loadTrustPolicy } from './exporters/host/signing.js';
import { parseReference } from './exporters/oci/reference.js';
import { EXPORTER_OPTIONS, SENSORS, type SensorName } from './generated/sensors.js';
import { labelValueProblem } from './metrics/labels.js';
import { PACKAGE_ROOT } from './package-root.js';
import { cgroupLevel, findCgroupId } from './resolve/cgroup-paths.js';
import { CgroupLabelRules, CgroupRuleError, DEFAULT_CGROUP_RULES, SIGNAL_NAMES, type CgroupRule } from './resolve/index.js';

export type { ApiConfig, Config, LokiConfig, OciExporterConfig, OciRegistryConfig } from './config-schema.js';
export { SENSORS, type SensorConfigs, type SensorName } from './generated/sensors.js';
// Kept for the modules of src/metrics that still import it from here.
export { PACKAGE_ROOT } from './package-root.js';

/** The rules the resolver applies: the configured ones, then the defaults unless turned off. */
export function cgroupRules(config: Config): CgroupRule[] {
  return [...config.cgroups.rules, ...(config.cgroups.defaultRules ? DEFAULT_CGROUP_RULES : [])];
}

const MAX_SOCKET_PATH_BYTES = 107;
const RING_MIN = 4096;
const DNS_NAME = /^(?=.{1,253}\.?$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
/** Whether `v` is an IP address or a syntactically valid DNS host name. */
export const isHost = (v: string): boolean => isIP(v) !== 0 || DNS_NAME.test(v);
/** host:port with a port 1-65535 (an IPv6 host in brackets). */
function isHostPort(v: string): boolean {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d+)$/.exec(v);
  return !!m && isHost(m[1] ?? m[2]!) && Number(m[3]) >= 1 && Number(m[3]) <= 65535;
}
function isHttpUrl(v: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}
/** Signals a process can be killed by, for sensors.process.logExitSignals. */
const SIGNALS = [...SIGNAL_NAMES].filter(([n]) => n < 32).map(([, name]) => name);

/** What a check of the schema's own keywords found: its words, for the key or one key of a mapping. */
type Problem = string | { key: string; quoted?: boolean; message: string } | undefined;

/** ajv with the schema's formats and keywords (src/config-schema.ts names them). */
function configAjv(): Ajv {
  // The schema is ours and tested and configError words the messages: no meta-schema check, no
  // optimisation pass and no ajv messages, which together cost start-up ~2× the compile itself.
  const ajv = new Ajv({
    useDefaults: true, verbose: true, strictTypes: false, strictRequired: false, strictTuples: false,
    validateSchema: false, messages: false, code: { optimize: false },
  });
  ajv.addVocabulary(['typeError', 'quotedKeys', 'defaultText']);
  ajv.addFormat('host', isHost);
  ajv.addFormat('host-port', (v) => v === '' || isHostPort(v));
  ajv.addFormat('http-url', (v) => v === '' || isHttpUrl(v));
  ajv.addFormat('signal', (v) => SIGNALS.includes(v));
  const keyword = <A, V>(name: string, type: 'number' | 'string' | 'object', problem: (arg: A, value: V) => Problem, extra: object = {}) => {
    const validate: SchemaValidateFunction = (arg, value) => {
      const p = problem(arg, value);
      if (p === undefined) return true;
      validate.errors = [{ keyword: name, message: typeof p === 'string' ? p : p.message, params: typeof p === 'string' ? {} : { key: p.key, quoted: p.quoted } }];
      return false;
    };
    ajv.addKeyword({ keyword: name, type, errors: true, validate, ...extra });
  };
  const powerOfTwo = (v: number) => ((v & (v - 1)) === 0 ? undefined : `must be a power of two, got ${v}`);
  keyword('powerOfTwo', 'number', (_, v: number) => powerOfTwo(v));
  // 0 (the helper's default for the sensor) or a power of two from 4096.
  keyword('ringSize', 'number', (_, v: number) => (v === 0 ? undefined : v < RING_MIN ? `must be an integer from ${RING_MIN} to ${1 << 30}, got ${v}` : powerOfTwo(v)));
  keyword('maxBytes', 'string', (max: number, v: string) => (Buffer.byteLength(v) > max ? `must be at most ${max} bytes, got ${JSON.stringify(v)}` : undefined));
  keyword('labelValue', 'string', (_, v: string) => labelValueProblem(v));
  // Checked when the config loads, not when the helper starts.
  keyword('cgroupPath', 'string', (_, v: string) => {
    if (v === '') return undefined;
    const found = findCgroupId(v);
    return 'problem' in found ? found.problem : undefined;
  });
  keyword('ociReference', 'string', (_, v: string) => {
    try {
      parseReference(v);
      return undefined;
    } catch (err) {
      return `is not an OCI reference: it ${(err as Error).message}`;
    }
  });
  // Key checks of mappings run before their values are checked.
  const before = { before: 'additionalProperties' };
  keyword('keyPattern', 'object', ({ pattern, what }: { pattern: string; what: string }, v: object) => {
    const re = new RegExp(pattern);
    const bad = Object.keys(v).find((k) => !re.test(k));
    return bad === undefined ? undefined : { key: bad, message: `is not a valid ${what}` };
  }, before);
  keyword('registryHost', 'object', (_, v: object) => {
    for (const host of Object.keys(v)) {
      try {
        parseReference(`${host}/x`);
      } catch {
        return { key: host, quoted: true, message: 'is not a registry host[:port]' };
      }
    }
    return undefined;
  }, before);
  // `depth: 3` and `verbose: true` mean "3" and "true": an exporter reads every setting as text.
  keyword('textValues', 'object', (_, v: Record<string, unknown>) => {
    for (const settings of Object.values(v)) {
      if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) continue;
      for (const [k, val] of Object.entries(settings)) {
        if ((typeof val === 'number' && Number.isFinite(val)) || typeof val === 'boolean') (settings as Record<string, unknown>)[k] = String(val);
      }
    }
    return undefined;
  }, { ...before, modifying: true });
  return ajv;
}

/** A schema node as ajv sees it (src/config-schema.ts). */
interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  required?: string[];
  default?: unknown;
  defaultText?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  enum?: string[];
  format?: string;
  ringSize?: boolean;
  typeError?: string;
  quotedKeys?: boolean;
}

/** A copy of `schema` where only keys without a default must be present (a file may leave any other out). */
function requireOnlyUndefaulted(schema: SchemaNode): SchemaNode {
  const node: SchemaNode = { ...schema };
  if (node.properties) {
    node.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, requireOnlyUndefaulted(v)]));
    const props = node.properties;
    const required = (node.required ?? []).filter((k) => props[k]?.default === undefined && props[k]?.defaultText === undefined);
    if (required.length) node.required = required;
    else delete node.required;
  }
  if (node.items) node.items = requireOnlyUndefaulted(node.items);
  if (typeof node.additionalProperties === 'object') node.additionalProperties = requireOnlyUndefaulted(node.additionalProperties);
  return node;
}

/** A key name as messages show it: quoted unless plain ("", "a b"), so a message still shows where it is. */
function child(key: string, name: string, style: 'setting' | 'plain' | 'quoted'): string {
  const shown = style === 'quoted' || (style === 'setting' && !/^[A-Za-z0-9_-]+$/.test(name)) ? JSON.stringify(name) : name;
  return key ? `${key}.${shown}` : shown;
}

/** The key an ajv instance path names, in config words: `exporters.oci[0].ref`, `exporters.registries."r.io"`. */
function keyOf(root: SchemaNode, instancePath: string): string {
  const segments = instancePath === '' ? [] : instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let node: SchemaNode | undefined = root;
  let key = '';
  for (const seg of segments) {
    if (node?.type === 'array') {
      key += `[${seg}]`;
      node = node.items;
    } else if (node?.properties && Object.hasOwn(node.properties, seg)) {
      key = child(key, seg, 'setting');
      node = node.properties[seg];
    } else if (node && typeof node.additionalProperties === 'object') {
      key = child(key, seg, node.quotedKeys ? 'quoted' : 'plain');
      node = node.additionalProperties;
    } else {
      key = child(key, seg, 'setting');
      node = undefined;
    }
  }
  return key;
}

/** Why `value` does not fit the schema node of one key, in the words of its type. */
function leafProblem(node: SchemaNode, value: unknown): string {
  if (node.typeError) return node.typeError;
  const got = `got ${JSON.stringify(value)}`;
  switch (node.type) {
    case 'object':
      return 'must be a mapping';
    case 'array':
      return 'must be a list';
    case 'integer':
      return `must be an integer from ${node.ringSize ? RING_MIN : node.minimum} to ${node.maximum}, ${got}`;
    case 'boolean':
      return `must be true or false, ${got}`;
    default:
      if (node.enum) return `must be one of ${node.enum.join(', ')}, ${got}`;
      if (node.format === 'signal') return `must be one of ${SIGNALS.join(', ')}, ${got}`;
      if (node.format === 'host') return `must be an IP address or a host name, ${got}`;
      if (typeof value === 'string' && node.format === 'host-port') return `must be host:port (e.g. 0.0.0.0:9746), ${got}`;
      if (typeof value === 'string' && node.format === 'http-url') return `must be an http(s) URL, ${got}`;
      return node.minLength ? `must be a non-empty string, ${got}` : `must be a string, ${got}`;
  }
}

/** The one CONFIG_INVALID error for ajv's first error: the key it names and why, in the catalogue's words. */
function configError(root: SchemaNode, err: ErrorObject): BpfwasmError {
  const key = keyOf(root, err.instancePath);
  const parent = err.parentSchema as SchemaNode;
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties':
      return invalid(child(key, String(params.additionalProperty), 'setting'), `is not a known setting (known: ${Object.keys(parent.properties ?? {}).join(', ')})`);
    case 'required': {
      const name = String(params.missingProperty);
      return invalid(child(key, name, 'setting'), leafProblem(parent.properties![name]!, undefined));
    }
    case 'type': case 'minimum': case 'maximum': case 'enum': case 'minLength': case 'pattern': case 'format':
      return invalid(key || 'the document', leafProblem(parent, err.data));
    default: // the schema's own keywords say why themselves
      return invalid(typeof params.key === 'string' ? child(key, params.key, params.quoted ? 'quoted' : 'plain') : key, err.message ?? 'is invalid');
  }
}

/**
 * Checks a document against a config schema and fills in its defaults, in place; throws the
 * CONFIG_INVALID error naming the first wrong key. Any schema of this shape (tests add sensors).
 */
export function configChecker(schema: object): (doc: unknown) => unknown {
  const root = requireOnlyUndefaulted(JSON.parse(JSON.stringify(schema)) as SchemaNode);
  const validate: ValidateFunction = configAjv().compile(root);
  return (doc) => {
    if (!validate(doc)) throw configError(root, validate.errors![0]!);
    return doc;
  };
}

let checkConfig: ((doc: unknown) => unknown) | undefined;

/** The defaults the schema cannot hold: they depend on where bpfwasm runs. */
function fillComputedDefaults(config: Config): Config {
  config.helper.path ??= join(PACKAGE_ROOT, 'ebpf', 'build', 'bpfwasm-helper');
  // In a pod the hostname is the pod's name: the DaemonSet passes the node's name as NODE_NAME.
  config.federate.externalLabels ??= { node: process.env.NODE_NAME || hostname() };
  return config;
}

/** A document checked and completed with the defaults (nothing resolved or cross-checked yet). */
function completed(doc: unknown): Config {
  checkConfig ??= configChecker(ConfigSchema);
  return fillComputedDefaults(checkConfig(doc ?? {}) as Config);
}

export function defaultConfig(): Config {
  return completed({});
}

function invalid(key: string, why: string): BpfwasmError {
  return new BpfwasmError('CONFIG_INVALID', `config: ${key} ${why}`);
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
