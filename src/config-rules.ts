// The checks the config schema names beyond JSON Schema (src/config-schema.ts): its formats and
// keywords as plain functions, so the precompiled validator (src/generated/config-validator.ts)
// calls them without ajv or TypeBox loaded; src/config-ajv.ts wires them into ajv.
import { isIP } from 'node:net';
import { parseReference } from './exporters/oci/reference.js';
import { labelValueProblem } from './metrics/labels.js';
import { findCgroupId } from './resolve/cgroup-paths.js';
import { SIGNAL_NAMES } from './resolve/index.js';

export const RING_MIN = 4096;
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
export const SIGNALS = [...SIGNAL_NAMES].filter(([n]) => n < 32).map(([, name]) => name);

/** The schema's formats, by name. */
export const CONFIG_FORMATS: Record<string, (v: string) => boolean> = {
  host: isHost,
  'host-port': (v) => v === '' || isHostPort(v),
  'http-url': (v) => v === '' || isHttpUrl(v),
  signal: (v) => SIGNALS.includes(v),
};

/** What a check of the schema's own keywords found: its words, for the key or one key of a mapping. */
export type Problem = string | { key: string; quoted?: boolean; message: string } | undefined;

/** One keyword of the schema: the type it applies to, and its check (the keyword's argument, the value). */
export interface ConfigKeyword {
  type: 'number' | 'string' | 'object';
  // Method syntax: each keyword narrows its own argument and value types (bivariant parameters).
  problem(arg: unknown, value: unknown): Problem;
  /** Key checks of mappings run before their values are checked. */
  beforeValues?: boolean;
  /** It changes the value in place. */
  modifying?: boolean;
}

const powerOfTwo = (v: number) => ((v & (v - 1)) === 0 ? undefined : `must be a power of two, got ${v}`);

/** The schema's keywords, by name. */
export const CONFIG_KEYWORDS: Record<string, ConfigKeyword> = {
  powerOfTwo: { type: 'number', problem: (_, v: number) => powerOfTwo(v) },
  // 0 (the helper's default for the sensor) or a power of two from 4096.
  ringSize: { type: 'number', problem: (_, v: number) => (v === 0 ? undefined : v < RING_MIN ? `must be an integer from ${RING_MIN} to ${1 << 30}, got ${v}` : powerOfTwo(v)) },
  maxBytes: { type: 'string', problem: (max: number, v: string) => (Buffer.byteLength(v) > max ? `must be at most ${max} bytes, got ${JSON.stringify(v)}` : undefined) },
  labelValue: { type: 'string', problem: (_, v: string) => labelValueProblem(v) },
  // Checked when the config loads, not when the helper starts.
  cgroupPath: {
    type: 'string',
    problem: (_, v: string) => {
      if (v === '') return undefined;
      const found = findCgroupId(v);
      return 'problem' in found ? found.problem : undefined;
    },
  },
  ociReference: {
    type: 'string',
    problem: (_, v: string) => {
      try {
        parseReference(v);
        return undefined;
      } catch (err) {
        return `is not an OCI reference: it ${(err as Error).message}`;
      }
    },
  },
  keyPattern: {
    type: 'object',
    beforeValues: true,
    problem: ({ pattern, what }: { pattern: string; what: string }, v: object) => {
      const re = new RegExp(pattern);
      const bad = Object.keys(v).find((k) => !re.test(k));
      return bad === undefined ? undefined : { key: bad, message: `is not a valid ${what}` };
    },
  },
  registryHost: {
    type: 'object',
    beforeValues: true,
    problem: (_, v: object) => {
      for (const host of Object.keys(v)) {
        try {
          parseReference(`${host}/x`);
        } catch {
          return { key: host, quoted: true, message: 'is not a registry host[:port]' };
        }
      }
      return undefined;
    },
  },
  // `depth: 3` and `verbose: true` mean "3" and "true": an exporter reads every setting as text.
  textValues: {
    type: 'object',
    beforeValues: true,
    modifying: true,
    problem: (_, v: Record<string, unknown>) => {
      for (const settings of Object.values(v)) {
        if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) continue;
        for (const [k, val] of Object.entries(settings)) {
          if ((typeof val === 'number' && Number.isFinite(val)) || typeof val === 'boolean') (settings as Record<string, unknown>)[k] = String(val);
        }
      }
      return undefined;
    },
  },
};
