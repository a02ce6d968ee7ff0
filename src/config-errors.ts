// The wording of a config error: ajv's first error turned into the key it names, in config words,
// and why, in the catalogue's words (src/errors.ts), the same whether the validator was
// precompiled (src/generated/config-validator.ts) or compiled by a test (src/config-ajv.ts).
import type { ErrorObject, ValidateFunction } from 'ajv';
import { RING_MIN, SIGNALS, type Problem } from './config-rules.js';
import { BpfwasmError } from './errors.js';

/** A schema node as ajv sees it (src/config-schema.ts). */
export interface SchemaNode {
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
    default: { // the schema's own keywords (src/config-rules.ts) say why themselves
      const problem = params.problem as Problem;
      if (typeof problem === 'object') return invalid(child(key, problem.key, problem.quoted ? 'quoted' : 'plain'), problem.message);
      return invalid(key, problem ?? 'is invalid');
    }
  }
}

/**
 * Checks a document with `validate` (compiled from `root`) and fills in its defaults, in place;
 * throws the CONFIG_INVALID error naming the first wrong key.
 */
export function checkerFor(root: SchemaNode, validate: ValidateFunction): (doc: unknown) => unknown {
  return (doc) => {
    if (!validate(doc)) throw configError(root, validate.errors![0]!);
    return doc;
  };
}

export function invalid(key: string, why: string): BpfwasmError {
  return new BpfwasmError('CONFIG_INVALID', `config: ${key} ${why}`);
}
