// Pushing and pulling one exporter artifact (exporters/OCI.md): shared by the collector's
// registry source and the `bpfwasm exporters push|pull|inspect` commands.
import { ABI_VERSION } from '../abi.js';
import { moduleVersion } from '../host/registry.js';
import { parseSignature } from '../host/signing.js';
import { buildManifest, EMPTY_CONFIG, parseManifest, type ExporterArtifact } from './artifact.js';
import { OciError, type OciClient } from './client.js';
import { formatReference, type OciReference } from './reference.js';

export interface PulledExporter {
  readonly digest: string;
  readonly artifact: ExporterArtifact;
  readonly module: Buffer;
  readonly signature: Buffer | undefined;
}

/** Uploads the blobs, then the manifest under `ref`'s tag; returns the manifest digest. */
export async function pushExporter(client: OciClient, ref: OciReference, a: { name: string; module: Uint8Array; signature?: Uint8Array }): Promise<string> {
  if (ref.tag === undefined) throw new OciError('bad_response', `${formatReference(ref)}: push needs a tag to name the version`);
  const signingKeyId = a.signature ? parseSignature(a.signature).keyId : undefined;
  const manifest = buildManifest({ name: a.name, abiVersion: ABI_VERSION, module: a.module, signature: a.signature, signingKeyId, version: moduleVersion(a.module) });
  await client.pushBlob(ref.repository, EMPTY_CONFIG);
  await client.pushBlob(ref.repository, a.module);
  if (a.signature) await client.pushBlob(ref.repository, a.signature);
  return client.putManifest(ref.repository, ref.tag, manifest);
}

/** The artifact behind a manifest already fetched: layout checked, blobs fetched and digest-verified. */
export async function pullBlobs(client: OciClient, ref: OciReference, manifest: { digest: string; bytes: Buffer }, maxModuleBytes: number): Promise<PulledExporter> {
  let artifact: ExporterArtifact;
  try {
    artifact = parseManifest(manifest.bytes, maxModuleBytes);
  } catch (e) {
    throw new OciError('bad_artifact', `${formatReference(ref)}@${manifest.digest} is not a bpfwasm exporter artifact: ${(e as Error).message}`);
  }
  const module = await client.blob(ref.repository, artifact.module);
  const signature = artifact.signature ? await client.blob(ref.repository, artifact.signature) : undefined;
  return { digest: manifest.digest, artifact, module, signature };
}

/** Resolves `ref` and pulls its artifact. */
export async function pullExporter(client: OciClient, ref: OciReference, maxModuleBytes: number): Promise<PulledExporter> {
  const manifest = await client.manifest(ref.repository, ref.digest ?? ref.tag!);
  return pullBlobs(client, ref, manifest, maxModuleBytes);
}
