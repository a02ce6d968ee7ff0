// Detached ed25519 signatures of exporter modules (`module.wasm.sig` beside `module.wasm`),
// checked against the public keys listed in `exporters.trustedKeys`.
//
// Keys are the PEM files OpenSSL and node:crypto read and write natively: a PKCS#8 private
// key (`openssl genpkey -algorithm ed25519`) and its SPKI public key (`openssl pkey -pubout`),
// so keys can be made, stored and audited with standard tools. A public key may also be given
// inline as the one-line base64 body of its PEM ("MCowBQYDK2VwAyEA…").
//
// The signature file names the key that made it (an id: the first 8 bytes of SHA-256 of the
// public key's DER), so a refusal can tell "signed by a key we do not trust" from "the module
// changed after it was signed", which a bare 64-byte signature could not.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { BpfwasmError } from '../../errors.js';

/** A module's signature lives in `<module file><SIGNATURE_SUFFIX>`. */
export const SIGNATURE_SUFFIX = '.sig';

const MAGIC = 'bpfwasm-signature-v1 ed25519';
const SIGNATURE_BYTES = 64;
/** What every Ed25519 SPKI DER starts with, base64: how an inline key is told from a file path. */
const INLINE_SPKI = /^MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=$/;

export interface TrustedKey {
  /** 16 hex digits, see keyId(). */
  readonly id: string;
  readonly key: KeyObject;
  /** Where it came from, for messages: a file path or "inline key N". */
  readonly source: string;
}

export interface TrustPolicy {
  /** Refuse modules without a signature by a trusted key (ABI.md, "Signatures"). */
  readonly requireSignatures: boolean;
  /** Trusted keys by id. */
  readonly keys: ReadonlyMap<string, TrustedKey>;
}

/** Accepts every unsigned module but still refuses a malformed signature or a tampered module. */
export const NO_TRUSTED_KEYS: TrustPolicy = { requireSignatures: false, keys: new Map() };

/** How a module passed: verified by a trusted key, unsigned, or signed by a key we cannot check. */
export interface TrustResult {
  readonly state: 'verified' | 'unsigned' | 'unverified';
  /** The signing key's id, when there is a signature. */
  readonly keyId?: string;
  /** One line for the load log, e.g. "signature verified (key 3f2a9c0d1e4b5a67, /etc/bpfwasm/release.pub)". */
  readonly note: string;
}

/** A key's id: the first 8 bytes of SHA-256 of its SPKI DER, in hex (`openssl pkey -pubin -outform DER | sha256sum`). */
export function keyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/** Whether a `trustedKeys` entry is a key itself rather than the path of a key file. */
export function isInlineKey(entry: string): boolean {
  return INLINE_SPKI.test(entry.trim()) || entry.trimStart().startsWith('-----BEGIN');
}

/** An Ed25519 public key from SPKI PEM text or its one-line base64 body; throws an Error saying why not. */
export function parsePublicKey(text: string): KeyObject {
  const t = text.trim();
  let key: KeyObject;
  try {
    key = INLINE_SPKI.test(t)
      ? createPublicKey({ key: Buffer.from(t, 'base64'), format: 'der', type: 'spki' })
      : createPublicKey(t); // PEM; a private key here would yield its public half, so check below
  } catch (e) {
    throw new Error(`not a PEM public key (${(e as Error).message})`);
  }
  if (!t.startsWith('-----BEGIN PUBLIC KEY-----') && !INLINE_SPKI.test(t)) {
    throw new Error('not a public key: expected "-----BEGIN PUBLIC KEY-----" (SPKI), as `openssl pkey -pubout` writes');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType} key, not ed25519`);
  return key;
}

/** An Ed25519 private key from PKCS#8 PEM (`openssl genpkey -algorithm ed25519`); throws an Error saying why not. */
export function parsePrivateKey(text: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (e) {
    throw new Error(`not a PEM private key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType} key, not ed25519`);
  return key;
}

/** One `trustedKeys` entry (an absolute file path or an inline key); throws an Error naming it and the problem. */
export function readTrustedKey(entry: string, index: number): TrustedKey {
  const inline = isInlineKey(entry);
  const source = inline ? `inline key ${index}` : entry;
  let text = entry;
  if (!inline) {
    try {
      text = readFileSync(entry, 'utf8');
    } catch (e) {
      throw new Error(`cannot read key file ${entry}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  let key: KeyObject;
  try {
    key = parsePublicKey(text);
  } catch (e) {
    throw new Error(`${source} is ${(e as Error).message}`);
  }
  return { id: keyId(key), key, source };
}

/** A policy over these keys; throws an Error if two entries are the same key. */
export function trustPolicy(keys: readonly TrustedKey[], requireSignatures: boolean): TrustPolicy {
  const byId = new Map<string, TrustedKey>();
  for (const k of keys) {
    const dup = byId.get(k.id);
    if (dup) throw new Error(`${k.source} is the same key as ${dup.source}`);
    byId.set(k.id, k);
  }
  return { requireSignatures, keys: byId };
}

/**
 * The policy of the collector's `exporters` section (key paths already absolute). Throws
 * CONFIG_INVALID naming the entry that is unreadable, not an Ed25519 public key, or a
 * duplicate, and when `requireSignatures` is on with no key (nothing could ever load).
 */
export function loadTrustPolicy(exporters: { requireSignatures: boolean; trustedKeys: readonly string[] }): TrustPolicy {
  const invalid = (where: string, e: unknown) => new BpfwasmError('CONFIG_INVALID', `config: ${where}: ${(e as Error).message}`);
  const keys = exporters.trustedKeys.map((entry, i) => {
    try {
      return readTrustedKey(entry, i);
    } catch (e) {
      throw invalid(`exporters.trustedKeys[${i}]`, e);
    }
  });
  if (exporters.requireSignatures && keys.length === 0) {
    throw new BpfwasmError('CONFIG_INVALID', 'config: exporters.requireSignatures needs at least one key in exporters.trustedKeys');
  }
  try {
    return trustPolicy(keys, exporters.requireSignatures);
  } catch (e) {
    throw invalid('exporters.trustedKeys', e);
  }
}

/** The signature file's content for `bytes` signed with `privateKey`. */
export function signModule(bytes: Uint8Array, privateKey: KeyObject): Buffer {
  const signature = sign(null, bytes, privateKey);
  return Buffer.from(`${MAGIC}\nkey-id: ${keyId(createPublicKey(privateKey))}\nsignature: ${signature.toString('base64')}\n`);
}

/** Reads a signature file's content; throws an Error saying what is wrong with it. */
export function parseSignature(file: Uint8Array): { keyId: string; signature: Buffer } {
  const lines = Buffer.from(file).toString('utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines[0] !== MAGIC) throw new Error(`its first line is not "${MAGIC}"`);
  const id = /^key-id: ([0-9a-f]{16})$/.exec(lines[1] ?? '')?.[1];
  if (!id) throw new Error('its second line is not "key-id: " and 16 hex digits');
  const b64 = /^signature: ([A-Za-z0-9+/]+={0,2})$/.exec(lines[2] ?? '')?.[1];
  const signature = b64 === undefined ? undefined : Buffer.from(b64, 'base64');
  if (signature?.length !== SIGNATURE_BYTES) throw new Error(`its third line is not "signature: " and ${SIGNATURE_BYTES} bytes in base64`);
  if (lines.length !== 3) throw new Error('it has more than three lines');
  return { keyId: id, signature };
}

/**
 * Decides whether module `name` (its `bytes` and the content of its `.sig` file, undefined if
 * there is none) may load. `sigFile` is where the signature was looked for, as messages name it. Throws a BpfwasmError that says which check failed:
 * - EXPORTER_SIGNATURE_BAD: the signature file is malformed, or the module does not match the
 *   signature of a trusted key (tampered or corrupt). Refused even without requireSignatures:
 *   a signature that verifiably fails means the bytes are not what the signer shipped.
 * - EXPORTER_UNSIGNED: no signature, and requireSignatures is on.
 * - EXPORTER_KEY_UNKNOWN: signed by a key not in trustedKeys, and requireSignatures is on.
 *   Without it such a module loads as unverified, exactly like an unsigned one: nothing can be
 *   said about it either way.
 * Pure: no I/O, so any thread that has the bytes can call it.
 */
/** How messages name the signature of an API load, which has no file (the CLI puts its file name in). */
export const REQUEST_SIGNATURE = 'signature in the request';

export function verifyModule(name: string, bytes: Uint8Array, sig: Uint8Array | undefined, policy: TrustPolicy, sigFile = `${name}.wasm${SIGNATURE_SUFFIX}`): TrustResult {
  const file = sigFile;
  if (sig === undefined) {
    if (policy.requireSignatures) {
      throw new BpfwasmError('EXPORTER_UNSIGNED', `${name}: unsigned (no ${file}) and exporters.requireSignatures is on`);
    }
    return { state: 'unsigned', note: 'unsigned' };
  }
  let parsed: { keyId: string; signature: Buffer };
  try {
    parsed = parseSignature(sig);
  } catch (e) {
    throw new BpfwasmError('EXPORTER_SIGNATURE_BAD', `${name}: ${file} is not a bpfwasm signature: ${(e as Error).message}`);
  }
  const trusted = policy.keys.get(parsed.keyId);
  if (!trusted) {
    if (policy.requireSignatures) {
      throw new BpfwasmError('EXPORTER_KEY_UNKNOWN', `${name}: signed by unknown key ${parsed.keyId}: not one of the trusted keys (exporters.trustedKeys)`);
    }
    return {
      state: 'unverified',
      keyId: parsed.keyId,
      note: `signed by key ${parsed.keyId}, which is not in exporters.trustedKeys: loaded unverified (requireSignatures is off)`,
    };
  }
  if (!verify(null, bytes, trusted.key, parsed.signature)) {
    throw new BpfwasmError('EXPORTER_SIGNATURE_BAD',
      `${name}: tampered: the module does not match its signature by trusted key ${trusted.id} (${trusted.source})`);
  }
  return { state: 'verified', keyId: trusted.id, note: `signature verified (key ${trusted.id}, ${trusted.source})` };
}

/** The content of `<modulePath>.sig`, or undefined when there is none. Other read errors throw EXPORTER_SIGNATURE_BAD. */
export async function readSignature(modulePath: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(modulePath + SIGNATURE_SUFFIX);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BpfwasmError('EXPORTER_SIGNATURE_BAD', `cannot read ${modulePath}${SIGNATURE_SUFFIX}: ${(e as Error).message}`);
  }
}
