// The exporter artifact: an OCI image manifest (exporters/OCI.md) whose layers are the module
// and its detached signature. Building it is pure; parsing it treats the registry's bytes as
// hostile: bounded, every field type-checked, and only what the layout allows is accepted.
import { createHash } from 'node:crypto';
import { DIGEST } from './reference.js';

export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const ARTIFACT_TYPE = 'application/vnd.bpfwasm.exporter.v1';
/** The empty config of an artifact that is not an image (OCI image-spec "Guidance for an empty descriptor"). */
export const EMPTY_CONFIG_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const EMPTY_CONFIG = Buffer.from('{}');
export const MODULE_MEDIA_TYPE = 'application/vnd.bpfwasm.exporter.module.v1+wasm';
export const SIGNATURE_MEDIA_TYPE = 'application/vnd.bpfwasm.exporter.signature.v1';
export const ANNOTATION_NAME = 'org.bpfwasm.exporter.name';
export const ANNOTATION_ABI = 'org.bpfwasm.exporter.abi-version';
export const ANNOTATION_KEY_ID = 'org.bpfwasm.exporter.signing-key-id';
export const ANNOTATION_VERSION = 'org.bpfwasm.exporter.version';
/** A manifest larger than this is not one of ours. */
export const MAX_MANIFEST_BYTES = 64 * 1024;
const MAX_LAYERS = 8;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ExporterArtifact {
  /** The exporter name the artifact says it holds (annotation). */
  readonly name: string;
  readonly abiVersion: number;
  readonly module: Descriptor;
  /** Absent for an unsigned artifact. */
  readonly signature: Descriptor | undefined;
  readonly signingKeyId: string | undefined;
  readonly annotations: Readonly<Record<string, string>>;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function descriptor(mediaType: string, bytes: Uint8Array, annotations?: Record<string, string>): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...(annotations ? { annotations } : {}) };
}

/** The manifest bytes for `name`'s module (and signature), with the layout's annotations. */
export function buildManifest(opts: {
  name: string; abiVersion: number; module: Uint8Array; signature?: Uint8Array; signingKeyId?: string; version: string;
}): Buffer {
  const annotations: Record<string, string> = {
    [ANNOTATION_NAME]: opts.name,
    [ANNOTATION_ABI]: String(opts.abiVersion),
    [ANNOTATION_VERSION]: opts.version,
    ...(opts.signingKeyId ? { [ANNOTATION_KEY_ID]: opts.signingKeyId } : {}),
  };
  const layers = [descriptor(MODULE_MEDIA_TYPE, opts.module, { 'org.opencontainers.image.title': `${opts.name}.wasm` })];
  if (opts.signature) layers.push(descriptor(SIGNATURE_MEDIA_TYPE, opts.signature, { 'org.opencontainers.image.title': `${opts.name}.wasm.sig` }));
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    artifactType: ARTIFACT_TYPE,
    config: descriptor(EMPTY_CONFIG_MEDIA_TYPE, EMPTY_CONFIG),
    layers,
    annotations,
  }));
}

/** Parses manifest bytes from a registry; throws an Error saying what is wrong. */
export function parseManifest(bytes: Uint8Array, maxBlobBytes: number): ExporterArtifact {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new Error(`manifest is ${bytes.length} bytes, more than ${MAX_MANIFEST_BYTES}`);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new Error(`manifest is not JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) throw new Error('manifest is not a JSON object');
  if (doc.schemaVersion !== 2) throw new Error('manifest schemaVersion is not 2');
  if (doc.mediaType !== undefined && doc.mediaType !== MANIFEST_MEDIA_TYPE) {
    throw new Error(`manifest mediaType is ${JSON.stringify(doc.mediaType)}, not ${MANIFEST_MEDIA_TYPE} (an index or an image is not an exporter)`);
  }
  const config = parseDescriptor(doc.config, 'config', maxBlobBytes);
  // The spec lets an artifact say its type in artifactType or, before image-spec 1.1, in the config's mediaType.
  const type = doc.artifactType ?? config.mediaType;
  if (type !== ARTIFACT_TYPE) throw new Error(`artifactType is ${JSON.stringify(type)}, not ${ARTIFACT_TYPE}`);
  if (!Array.isArray(doc.layers)) throw new Error('manifest layers is not a list');
  if (doc.layers.length > MAX_LAYERS) throw new Error(`manifest has ${doc.layers.length} layers, more than ${MAX_LAYERS}`);
  const layers = doc.layers.map((l, i) => parseDescriptor(l, `layers[${i}]`, maxBlobBytes));
  const modules = layers.filter((l) => l.mediaType === MODULE_MEDIA_TYPE);
  const signatures = layers.filter((l) => l.mediaType === SIGNATURE_MEDIA_TYPE);
  if (modules.length !== 1) throw new Error(`manifest has ${modules.length} layers of ${MODULE_MEDIA_TYPE}, not 1`);
  if (signatures.length > 1) throw new Error(`manifest has ${signatures.length} layers of ${SIGNATURE_MEDIA_TYPE}, not 0 or 1`);
  const annotations = parseAnnotations(doc.annotations, 'manifest annotations');
  const name = annotations[ANNOTATION_NAME];
  if (name === undefined || !/^[a-z0-9_-]{1,64}$/.test(name)) throw new Error(`annotation ${ANNOTATION_NAME} is missing or not [a-z0-9_-]{1,64}`);
  const abi = annotations[ANNOTATION_ABI];
  if (abi === undefined || !/^[1-9][0-9]{0,3}$/.test(abi)) throw new Error(`annotation ${ANNOTATION_ABI} is missing or not a version number`);
  const keyId = annotations[ANNOTATION_KEY_ID];
  if (keyId !== undefined && !/^[0-9a-f]{16}$/.test(keyId)) throw new Error(`annotation ${ANNOTATION_KEY_ID} is not 16 hex digits`);
  return { name, abiVersion: Number(abi), module: modules[0]!, signature: signatures[0], signingKeyId: keyId, annotations };
}

function parseDescriptor(v: unknown, where: string, maxBlobBytes: number): Descriptor {
  if (!isObject(v)) throw new Error(`${where} is not a descriptor object`);
  if (typeof v.mediaType !== 'string' || !/^[\w.+-]{1,127}\/[\w.+-]{1,127}$/.test(v.mediaType)) throw new Error(`${where}.mediaType is not a media type`);
  if (typeof v.digest !== 'string' || !DIGEST.test(v.digest)) throw new Error(`${where}.digest is not sha256: and 64 hex digits`);
  if (!Number.isSafeInteger(v.size) || (v.size as number) < 0) throw new Error(`${where}.size is not a byte count`);
  if ((v.size as number) > maxBlobBytes) throw new Error(`${where} is ${v.size} bytes, more than the limit of ${maxBlobBytes}`);
  const annotations = v.annotations === undefined ? undefined : parseAnnotations(v.annotations, `${where}.annotations`);
  return { mediaType: v.mediaType, digest: v.digest, size: v.size as number, ...(annotations ? { annotations } : {}) };
}

function parseAnnotations(v: unknown, where: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v)) throw new Error(`${where} is not an object`);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new Error(`${where}[${JSON.stringify(k)}] is not a string`);
    out[k] = val;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
