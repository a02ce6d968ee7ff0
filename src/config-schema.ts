// The one definition of the config file: every key's type, bounds, default and meaning. The
// TypeScript types (Config…), the validation and defaults (src/config.ts, with ajv's code
// precompiled into src/generated/config-validator.ts by scripts/gen-config-validator.mjs, so the
// collector loads neither ajv nor TypeBox) and the reference (docs/CONFIG.md,
// scripts/gen-config-docs.mjs) all come from it; the sensors'
// sections come from their declarations (ebpf/<sensor>/sensor.yaml, src/generated/sensors.ts).
// Keywords beyond JSON Schema (ringSize, powerOfTwo, maxBytes, labelValue, keyPattern,
// textValues, registryHost, ociReference, cgroupPath; formats host, host-port, http-url,
// signal) are defined in src/config-rules.ts. Annotations: typeError (the message for a value of the
// wrong type), quotedKeys (a map whose keys are quoted in messages), defaultText (a default
// computed when the config loads).
import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox';
import { SENSORS_SCHEMA, type SensorConfigs } from './generated/sensors.js';

const int = (minimum: number, maximum: number, def: number, description: string) => Type.Integer({ minimum, maximum, default: def, description });
const bool = (def: boolean, description: string) => Type.Boolean({ default: def, description });
/** Any string, '' included. */
const text = (def: string, description: string, extra: object = {}) => Type.String({ default: def, description, ...extra });
const oneOf = <const T extends string>(values: readonly T[], def: NoInfer<T>, description: string) => Type.Unsafe<T>({ type: 'string', enum: values, default: def, description });
const section = <T extends TProperties>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: false, default: {}, ...(description === undefined ? {} : { description }) });
/** A mapping of names to values; `extra` says how its keys are checked and what a wrong type is. */
const mapOf = <T extends TSchema>(value: T, extra: object) =>
  Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: value, ...('defaultText' in extra ? {} : { default: {} }), ...extra });
/** A mapping of label-like names to strings (HTTP headers, Loki labels). */
const stringMap = (pattern: string, what: string, description: string) =>
  mapOf(Type.String(), { keyPattern: { pattern, what }, typeError: 'must be a mapping of names to strings', description });
const paths = (description: string) => Type.Array(Type.String({ minLength: 1 }), { default: [], typeError: 'must be a list of paths', description });

const HTTP_HEADER = '^[A-Za-z0-9-]+$';
/** The helper accepts 1–1000 Hz and 1–300 s (ebpf/PROTOCOL.md), so those are the outer bounds. */
const MAX_HZ = 1000;
const MAX_SECONDS = 300;

export const OciExporterSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9_-]{1,64}$', typeError: 'must be an exporter name ([a-z0-9_-]{1,64})', description: 'The exporter it updates.' }),
  ref: Type.String({ minLength: 1, ociReference: true, description: 'registry/repository:tag (or @digest) to follow.' }),
  pollSeconds: int(1, 86_400, 60, 'How often the reference is looked up.'),
  shadow: bool(false, 'Run it as the shadow candidate beside the current version, not in its place.'),
}, { additionalProperties: false, typeError: 'must be a mapping with name and ref' });

export const OciRegistrySchema = Type.Object({
  username: text('', 'User name for the registry (with passwordFile).'),
  passwordFile: text('', 'File holding the password; read when the config loads.'),
  caFile: text('', 'PEM CA bundle the registry is verified against; read when the config loads.'),
  plainHttp: bool(false, 'Plain HTTP, for a registry on loopback.'),
}, { additionalProperties: false });

export const LokiSchema = section({
  url: text('', "Loki's base URL (the push path /loki/api/v1/push is added); empty disables shipping.", { format: 'http-url' }),
  // `level` and `event` come from each line; Loki reserves names starting with "__".
  labels: stringMap('^(?!__)(?!(level|event)$)[a-zA-Z_][a-zA-Z0-9_]*$', 'Loki label name (not level, event or __*)', 'Stream labels added to every line; `job` and `node` override the defaults.'),
  batchIntervalMs: int(10, 60_000, 1000, 'How often buffered lines are pushed (one request at a time).'),
  maxBufferedLines: int(1, 1_000_000, 10_000, 'Lines waiting to be pushed before the oldest is dropped (and counted).'),
  timeoutMs: int(100, 300_000, 5000, 'A push that takes longer is abandoned and its lines retried.'),
  basicAuth: section({ username: text('', 'Basic auth user (with password).'), password: text('', 'Basic auth password.') }),
  bearerToken: text('', 'Bearer token sent with every push (not with basicAuth).'),
  headers: stringMap(HTTP_HEADER, 'HTTP header name', 'Extra request headers, e.g. X-Scope-OrgID for a multi-tenant Loki.'),
}, 'Ship the collector\'s log lines to Loki (docs/LOGS.md).');

export const ApiSchema = section({
  enabled: bool(true, 'Serve the gRPC API (src/api/proto/bpfwasm.proto) the `bpfwasm` CLI talks to.'),
  socket: Type.String({ minLength: 1, default: '/run/bpfwasm/api.sock', description: 'Unix socket path (mode 0600: its owner and root may connect); its directory is created, a stale socket removed; at most 107 bytes as an absolute path.' }),
  streamQueueEvents: int(1, 1_000_000, 4096, 'Events one StreamEvents call may queue for a slow reader before it drops (and counts) them.'),
  tcp: section({
    listen: text('', "host:port to also listen on (e.g. 0.0.0.0:9746); '' disables TCP. Needs tlsCert, tlsKey and tokenFile.", { format: 'host-port' }),
    tlsCert: text('', 'PEM certificate chain of the TLS listener.'),
    tlsKey: text('', 'PEM private key of the TLS listener.'),
    tokenFile: text('', 'File holding the bearer token every TCP call must present.'),
  }),
}, 'The gRPC API: a unix socket always; TCP only with TLS and a bearer token.');

export const ConfigSchema = Type.Object({
  listen: section({
    host: Type.String({ format: 'host', default: '0.0.0.0', description: 'Address of the HTTP endpoints: an IP address or a host name.' }),
    port: int(0, 65535, 9745, 'Port of the HTTP endpoints (0: any free port).'),
  }),
  helper: section({
    path: Type.String({ minLength: 1, defaultText: '`ebpf/build/bpfwasm-helper` in the package', description: 'The bpfwasm-helper binary.' }),
    ringBytes: Type.Integer({ minimum: 4096, maximum: 1 << 30, powerOfTwo: true, default: 4 << 20, description: 'Ring buffer of a sensor without its own default (sensors.<name>.ringBytes); a power of two.' }),
    wakeupBytes: int(0, 1 << 30, 0, 'The BPF side wakes the helper past this much data (smaller than each sensor\'s ring; 0: a quarter of each sensor\'s ring), and for a record after pollMs without one on its CPU…'),
    pollMs: int(1, 1000, 5, '…else the helper drains after this long: the freshness bound between streams.'),
    busyPollMs: int(0, 10_000, 0, 'Longest wait while records keep coming: from two polls in a row that found some the helper waits 4 × pollMs, doubled per poll up to this while they come at 1000 a second or more, so a busy stream comes in few, big frames; this is then its freshness bound (0: 80 × pollMs, 400 ms; at least pollMs).'),
    statsMs: int(50, 60_000, 1000, 'Drop and run-time report interval.'),
    // The frame maximum: a stream's flush is one frame per record type, however long the wait (few wake-ups).
    batchBytes: int(4096, 1 << 20, 1 << 20, 'Largest batch handed to an exporter, and the largest EVENTS frame payload: a stream\'s flush fits one frame per record type.'),
    aggregateMs: int(10, 3_600_000, 1000, 'Interval of the kernel-aggregated sensors\' records.'),
  }, 'The native helper that loads the sensors (ebpf/PROTOCOL.md).'),
  sensors: Type.Unsafe<SensorConfigs>(SENSORS_SCHEMA),
  exporters: section({
    builtin: bool(true, 'Load the built-in exporters shipped in exporters/build.'),
    dirs: paths('Further directories of *.wasm exporters, loaded after the built-ins.'),
    watch: bool(true, 'Hot reload: load, swap or unload a module of `dirs` when its file appears, changes or goes; a re-created dir is watched again.'),
    maxSeriesPerExporter: int(1, 10_000_000, 10_000, 'Further series are refused and counted (the collector\'s own series about an exporter don\'t count).'),
    maxLabelValueBytes: int(1, 65536, 1024, 'Longest label value an exporter may set.'),
    batchTimeoutMs: int(1, 60_000, 250, 'Deadline of one batch call in an exporter\'s worker; an overrun terminates and quarantines it.'),
    initTimeoutMs: int(10, 600_000, 2000, 'Deadline of loading one exporter (compile, instantiate, bpfwasm_init).'),
    maxMemoryPages: int(1, 65536, 256, 'An exporter\'s budget in 64 KiB pages: its linear memory, tables, globals and segments together.'),
    queueBatches: int(1, 65536, 64, 'Batches queued to one exporter\'s worker before further ones are dropped and counted.'),
    quarantineBaseMs: int(1, 3_600_000, 1000, 'Quarantine before the first restart, doubled on each failure in a row up to quarantineMaxMs.'),
    quarantineMaxMs: int(1, 86_400_000, 60_000, 'Longest quarantine.'),
    maxConsecutiveTraps: int(1, 1_000_000, 16, 'Batches trapping in a row before the exporter is restarted from a fresh instance.'),
    threads: int(1, 64, 1, 'Worker threads the built-in exporters share, and as many the user modules share; each exporter in its own instance (src/exporters/README.md).'),
    settings: mapOf(
      mapOf(Type.String(), { keyPattern: { pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$', what: 'setting name' }, typeError: 'must be a mapping of names to strings' }),
      { textValues: true, typeError: 'must be a mapping of exporter names to settings', description: 'Settings per exporter name, read by the module through the `config` import; numbers and booleans are taken as their text (quote "1.0" to keep it exact).' },
    ),
    requireSignatures: bool(false, 'Refuse a module of `dirs` unless `<module>.wasm.sig` verifies against a trusted key.'),
    trustedKeys: paths('Ed25519 public keys: PEM (SPKI) file paths, or inline keys (PEM text or its one-line base64 body).'),
    oci: Type.Array(OciExporterSchema, { default: [], typeError: 'must be a list of { name, ref, pollSeconds, shadow }', description: 'Exporters followed in OCI registries (deploy/exporters.md): pulled, verified and swapped in when the reference moves; at most one current and one shadow entry per name.' }),
    registries: mapOf(OciRegistrySchema, { registryHost: true, quotedKeys: true, typeError: 'must be a mapping of registry host[:port] to settings', description: 'Per registry (host[:port]): credentials, a CA bundle, or plain HTTP for a registry on loopback.' }),
    ociTimeoutSeconds: int(1, 600, 30, 'Deadline of one request to a registry.'),
    ociMaxModuleBytes: int(1024, 256 << 20, 16 << 20, 'The largest module (blob) pulled from a registry; larger ones are refused before they are downloaded.'),
  }, 'The WebAssembly exporters and their limits.'),
  metrics: section({
    maxSeriesPerMetric: int(1, 10_000_000, 10_000, 'Series one metric may have before further ones are refused and counted.'),
    seriesTtlSeconds: int(0, 365 * 86400, 3600, 'Exporter series not updated for this long are removed from every endpoint (0: never).'),
    nativeHistograms: bool(false, 'Also serve histograms as native (sparse exponential) histograms in the protobuf format.'),
  }),
  federate: section({
    externalLabels: mapOf(Type.String({ labelValue: true }), {
      keyPattern: { pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$', what: 'label name' }, typeError: 'must be a mapping of names to strings',
      // In a pod the hostname is the pod's name: the DaemonSet passes the node's name as NODE_NAME.
      defaultText: '`{ node: $NODE_NAME }`, or the host name when NODE_NAME is unset',
      description: 'Added to every federated series that lacks the label.',
    }),
  }),
  remoteWrite: section({
    url: text('', 'Receiver URL; empty disables remote write.', { format: 'http-url' }),
    intervalSeconds: int(1, 3600, 15, 'How often samples are sent.'),
    timeoutSeconds: int(1, 300, 10, 'Deadline of one request.'),
    maxQueuedRequests: int(1, 100_000, 100, 'WriteRequests waiting to be sent before the oldest is dropped (and counted).'),
    maxSamplesPerRequest: int(1, 1_000_000, 2000, 'Samples in one WriteRequest.'),
    headers: stringMap(HTTP_HEADER, 'HTTP header name', 'Extra request headers.'),
    bearerToken: text('', 'Bearer token sent with every request.'),
  }),
  http: section({
    profile: oneOf(['off', 'local', 'token'], 'local', 'off: no /flamegraph; local: loopback clients only; token: `Authorization: Bearer` from profileTokenFile.'),
    profileTokenFile: text('', 'File holding the token of http.profile: token.'),
  }, 'Who may take profiles over HTTP (/flamegraph); /metrics and /federate stay open.'),
  profile: section({
    defaultHz: int(1, MAX_HZ, 99, 'Sampling frequency of a profile that names none (at most maxHz).'),
    maxHz: int(1, MAX_HZ, 1000, 'Highest sampling frequency a request may ask for.'),
    defaultSeconds: int(1, MAX_SECONDS, 10, 'Duration of a profile that names none (at most maxSeconds).'),
    maxSeconds: int(1, MAX_SECONDS, 300, 'Longest duration a request may ask for.'),
    maxConcurrent: int(1, 16, 1, 'Profiles sampling at once; further requests get 429.'),
    keep: int(1, 1000, 20, 'Recent profiles kept for /flamegraph/:id and diffs.'),
    cacheBytes: int(0, 4 * 1024 ** 3, 64 << 20, 'Byte budget of the symbolizer\'s cache of ELF symbol tables (not file bytes), kept for profiles taken within 10 s of each other.'),
  }),
  cgroups: section({
    rules: Type.Array(Type.Object({
      match: Type.String({ minLength: 1, description: 'An RE2 regex searched for in the cgroup path.' }),
      label: Type.String({ description: 'The label, with $1, $<name> groups.' }),
    }, { additionalProperties: false, typeError: 'must be a mapping with match and label' }), {
      default: [], typeError: 'must be a list of { match, label } rules',
      description: 'Workload-label rules tried before the defaults (src/resolve/README.md); first match wins.',
    }),
    defaultRules: bool(true, 'Then the default rules: systemd units, container ids, pod uids, user sessions.'),
    rescanIntervalMs: int(0, 3_600_000, 1000, 'Least time between two walks of the cgroup tree caused by unknown ids.'),
  }, 'How exporters turn cgroup ids into labels (README.md, "cgroup labels").'),
  log: section({
    level: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], 'info', 'Least level logged.'),
    format: oneOf(['auto', 'json', 'pretty'], 'auto', "stdout's form: 'auto' readable lines on a terminal and JSON lines otherwise, or always one."),
    time: oneOf(['epoch', 'iso'], 'epoch', "'epoch' milliseconds (pino's default) or 'iso' 8601 text in each line's `time`."),
    loki: LokiSchema,
  }),
  api: ApiSchema,
}, { additionalProperties: false, typeError: 'must be a mapping' });

export type Config = Static<typeof ConfigSchema>;
export type ApiConfig = Config['api'];
export type LokiConfig = Config['log']['loki'];
export type OciExporterConfig = Static<typeof OciExporterSchema>;
export type OciRegistryConfig = Static<typeof OciRegistrySchema>;
