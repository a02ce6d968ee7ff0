// Module signatures: the pass/fail matrix of verifyModule over a real built exporter, key
// formats (OpenSSL interop, inline keys) and the config checks of exporters.trustedKeys.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { BpfwasmError } from '../../src/errors.js';
import {
  keyId, loadTrustPolicy, parsePrivateKey, parsePublicKey, readSignature, signModule, verifyModule, type TrustPolicy,
} from '../../src/exporters/host/signing.js';
import { ROOT } from '../../scripts/build-exporters.mjs';
import { freshTmpDir } from './helpers.js';

const MODULE = readFileSync(join(ROOT, 'exporters', 'build', 'forks.wasm'));

function pair() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey, privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

/** What verifyModule throws, as { code, message }; fails the test if it does not throw. */
function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BpfwasmError);
    return { code: (e as BpfwasmError).code, message: (e as Error).message };
  }
  throw new Error('expected a refusal');
}

describe('verifyModule: the signature matrix', () => {
  const trusted = pair();
  const stranger = pair();
  const policy = (requireSignatures: boolean): TrustPolicy =>
    loadTrustPolicy({ requireSignatures, trustedKeys: [trusted.pem] });
  const goodSig = signModule(MODULE, trusted.privateKey);
  const tampered = Uint8Array.from(MODULE);
  tampered[tampered.length - 1]! ^= 0x01; // one bit of the last byte (inside a section), still valid length
  const strangerSig = signModule(MODULE, stranger.privateKey);
  // A signature by the trusted key over other bytes: right key id, wrong signature.
  const otherBytesSig = signModule(Buffer.from('not this module'), trusted.privateKey);

  for (const required of [false, true]) {
    describe(`requireSignatures: ${required}`, () => {
      it('a module signed by a trusted key verifies', () => {
        const r = verifyModule('forks', MODULE, goodSig, policy(required));
        expect(r).toEqual({ state: 'verified', keyId: keyId(trusted.publicKey), note: `signature verified (key ${keyId(trusted.publicKey)}, inline key 0)` });
      });

      it('a tampered module is refused, saying so', () => {
        const r = refusal(() => verifyModule('forks', tampered, goodSig, policy(required)));
        expect(r.code).toBe('EXPORTER_SIGNATURE_BAD');
        expect(r.message).toBe(`forks: tampered: the module does not match its signature by trusted key ${keyId(trusted.publicKey)} (inline key 0)`);
      });

      it('a signature of other bytes by a trusted key is refused as tampered', () => {
        expect(refusal(() => verifyModule('forks', MODULE, otherBytesSig, policy(required))).code).toBe('EXPORTER_SIGNATURE_BAD');
      });

      it('a malformed signature file is refused, saying what is wrong', () => {
        const truncated = goodSig.subarray(0, goodSig.length - 10);
        const r = refusal(() => verifyModule('forks', MODULE, truncated, policy(required)));
        expect(r.code).toBe('EXPORTER_SIGNATURE_BAD');
        expect(r.message).toBe('forks: forks.wasm.sig is not a bpfwasm signature: its third line is not "signature: " and 64 bytes in base64');
        const raw = refusal(() => verifyModule('forks', MODULE, new Uint8Array(64), policy(required)));
        expect(raw.message).toMatch(/^forks: forks\.wasm\.sig is not a bpfwasm signature: its first line is not "bpfwasm-signature-v1 ed25519"$/);
      });
    });
  }

  it('unsigned: refused when required, loaded otherwise', () => {
    const r = refusal(() => verifyModule('forks', MODULE, undefined, policy(true)));
    expect(r).toEqual({ code: 'EXPORTER_UNSIGNED', message: 'forks: unsigned (no forks.wasm.sig) and exporters.requireSignatures is on' });
    // The caller names where it looked: a directory's file, or an API request.
    expect(refusal(() => verifyModule('forks', MODULE, undefined, policy(true), 'signature in the request')).message)
      .toBe('forks: unsigned (no signature in the request) and exporters.requireSignatures is on');
    expect(verifyModule('forks', MODULE, undefined, policy(false))).toEqual({ state: 'unsigned', note: 'unsigned' });
  });

  it('signed by an unknown key: refused when required, loaded as unverified otherwise', () => {
    const id = keyId(stranger.publicKey);
    const r = refusal(() => verifyModule('forks', MODULE, strangerSig, policy(true)));
    expect(r).toEqual({ code: 'EXPORTER_KEY_UNKNOWN', message: `forks: signed by unknown key ${id}: not one of the trusted keys (exporters.trustedKeys)` });
    const loaded = verifyModule('forks', MODULE, strangerSig, policy(false));
    expect(loaded.state).toBe('unverified');
    expect(loaded.keyId).toBe(id);
  });

  it('with two trusted keys, each verifies its own signatures', () => {
    const both = loadTrustPolicy({ requireSignatures: true, trustedKeys: [trusted.pem, stranger.pem] });
    expect(verifyModule('forks', MODULE, strangerSig, both).keyId).toBe(keyId(stranger.publicKey));
    expect(verifyModule('forks', MODULE, goodSig, both).keyId).toBe(keyId(trusted.publicKey));
  });
});

describe('keys', () => {
  let dir: string;
  beforeAll(() => {
    dir = freshTmpDir('keys');
  });

  it('OpenSSL keys work as they are, and the documented key-id pipeline gives the same id', () => {
    const key = join(dir, 'ossl.key');
    const pub = join(dir, 'ossl.pub');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
    execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
    const viaOpenssl = execFileSync('sh', ['-c', `openssl pkey -pubin -in ${pub} -outform DER | sha256sum | cut -c1-16`], { encoding: 'utf8' }).trim();
    const policy = loadTrustPolicy({ requireSignatures: true, trustedKeys: [pub] });
    expect([...policy.keys.keys()]).toEqual([viaOpenssl]);
    // A module signed by bpfwasm with the OpenSSL private key verifies; OpenSSL verifies the raw signature too.
    const sig = signModule(MODULE, parsePrivateKey(readFileSync(key, 'utf8')));
    expect(verifyModule('forks', MODULE, sig, policy).state).toBe('verified');
    const raw = join(dir, 'raw.sig');
    writeFileSync(raw, Buffer.from(/^signature: (.*)$/m.exec(sig.toString())![1]!, 'base64'));
    const mod = join(dir, 'forks.wasm');
    writeFileSync(mod, MODULE);
    const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', mod, '-sigfile', raw], { encoding: 'utf8' });
    expect(out).toContain('Signature Verified Successfully');
  });

  it('an inline key is the one-line base64 body of the PEM, or the PEM text itself', () => {
    const p = pair();
    const body = p.pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    expect(keyId(parsePublicKey(body))).toBe(keyId(p.publicKey));
    expect(keyId(parsePublicKey(p.pem))).toBe(keyId(p.publicKey));
  });

  it('refuses what is not an ed25519 public key, naming the entry', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const rsaFile = join(dir, 'rsa.pub');
    writeFileSync(rsaFile, rsa);
    expect(() => loadTrustPolicy({ requireSignatures: false, trustedKeys: [rsaFile] }))
      .toThrow(`config: exporters.trustedKeys[0]: ${rsaFile} is an rsa key, not ed25519`);
    const privFile = join(dir, 'private.pem');
    writeFileSync(privFile, pair().privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => loadTrustPolicy({ requireSignatures: false, trustedKeys: [privFile] })).toThrow(/is not a public key/);
    expect(() => loadTrustPolicy({ requireSignatures: false, trustedKeys: [join(dir, 'missing.pub')] }))
      .toThrow(`config: exporters.trustedKeys[0]: cannot read key file ${join(dir, 'missing.pub')}: ENOENT`);
    const p = pair();
    expect(() => loadTrustPolicy({ requireSignatures: false, trustedKeys: [p.pem, p.pem] }))
      .toThrow('config: exporters.trustedKeys: inline key 1 is the same key as inline key 0');
  });
});

describe('config: exporters.requireSignatures and trustedKeys', () => {
  it('defaults to accepting unsigned modules with no keys', () => {
    const c = buildConfig({});
    expect(c.exporters.requireSignatures).toBe(false);
    expect(c.exporters.trustedKeys).toEqual([]);
  });

  it('resolves key files relative to the config file and reads them at load', () => {
    const dir = freshTmpDir('cfgkeys');
    const p = pair();
    writeFileSync(join(dir, 'release.pub'), p.pem);
    const c = buildConfig({ exporters: { requireSignatures: true, trustedKeys: ['release.pub'] } }, dir);
    expect(c.exporters.trustedKeys).toEqual([join(dir, 'release.pub')]);
    expect(() => buildConfig({ exporters: { trustedKeys: ['nope.pub'] } }, dir)).toThrow(/exporters\.trustedKeys\[0\]: cannot read key file/);
  });

  it('refuses requireSignatures without a key, and keys that are not a list of strings', () => {
    expect(() => buildConfig({ exporters: { requireSignatures: true } }))
      .toThrow('config: exporters.requireSignatures needs at least one key in exporters.trustedKeys');
    expect(() => buildConfig({ exporters: { trustedKeys: 'a.pub' } })).toThrow(/exporters\.trustedKeys must be a list/);
    expect(() => buildConfig({ exporters: { requireSignatures: 'yes' } })).toThrow(/exporters\.requireSignatures must be true or false/);
  });
});

describe('readSignature', () => {
  it('reads <module>.sig, and is undefined when there is none', async () => {
    const dir = freshTmpDir('readsig');
    const mod = join(dir, 'x.wasm');
    expect(await readSignature(mod)).toBeUndefined();
    writeFileSync(`${mod}.sig`, 'content');
    expect(Buffer.from((await readSignature(mod))!).toString()).toBe('content');
  });
});
