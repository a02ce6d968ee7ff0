// The parsers an OCI registry's answers go through: references (from config and the CLI),
// WWW-Authenticate challenges and manifests. Table cases for the forms the specs allow and the
// ones they don't; fast-check properties that arbitrary input never throws anything but the
// documented errors, and that what is built parses back to itself.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ARTIFACT_TYPE, buildManifest, MODULE_MEDIA_TYPE, parseManifest, sha256Digest, SIGNATURE_MEDIA_TYPE,
} from '../../../src/exporters/oci/artifact.js';
import { parseChallenges } from '../../../src/exporters/oci/challenge.js';
import { formatReference, parseReference } from '../../../src/exporters/oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['registry.example.com/bpfwasm/process:stable', { registry: 'registry.example.com', repository: 'bpfwasm/process', tag: 'stable', digest: undefined }],
    ['127.0.0.1:5000/p', { registry: '127.0.0.1:5000', repository: 'p', tag: 'latest', digest: undefined }],
    [`r.io/a/b@${D}`, { registry: 'r.io', repository: 'a/b', tag: undefined, digest: D }],
    [`r.io/a/b:v1.2@${D}`, { registry: 'r.io', repository: 'a/b', tag: 'v1.2', digest: D }],
    ['localhost:5000/a__b/c-d.e:t_1', { registry: 'localhost:5000', repository: 'a__b/c-d.e', tag: 't_1', digest: undefined }],
    ['[::1]:5000/x:y', { registry: '[::1]:5000', repository: 'x', tag: 'y', digest: undefined }],
  ])('%s', (ref, want) => {
    expect(parseReference(ref)).toEqual(want);
  });

  it.each([
    ['', /is empty/],
    ['process:stable', /has no registry/],
    ['/a:b', /has no registry/],
    ['r.io/Upper:t', /repository "Upper"/],
    ['r.io/a//b:t', /repository/],
    ['r.io/a:-bad', /tag "-bad"/],
    [`r.io/a@sha256:${'A'.repeat(64)}`, /digest/],
    ['r.io/a@sha512:abc', /digest/],
    ['bad_host/a:b', /registry "bad_host"/],
    ['r.io:99999/a', /port past 65535/],
    [`r.io/${'a'.repeat(600)}`, /longer than 512 bytes/],
  ])('refuses %j', (ref, why) => {
    expect(() => parseReference(ref)).toThrow(why);
  });

  it('property: any string parses or throws an Error, and what parses formats back to an equal reference', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-z0-9.:]{1,20}\/[a-z0-9/._-]{1,30}(:[A-Za-z0-9_.-]{1,10})?$/)), (s) => {
      let r;
      try {
        r = parseReference(s);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        return;
      }
      expect(parseReference(formatReference(r))).toEqual(r);
    }), { numRuns: 2000 });
  });
});

describe('parseChallenges (WWW-Authenticate)', () => {
  const params = (h: string) => parseChallenges(h).map((c) => [c.scheme, Object.fromEntries(c.params)]);
  it.each([
    ['Basic realm="Registry Realm"', [['basic', { realm: 'Registry Realm' }]]],
    ['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      [['bearer', { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' }]]],
    ['bearer REALM=abc , Service = reg', [['bearer', { realm: 'abc', service: 'reg' }]]],
    ['Bearer realm=https://a/t', []], // a URL is not a token: it must be quoted
    ['Bearer realm="a\\"b\\\\c"', [['bearer', { realm: 'a"b\\c' }]]],
    ['Negotiate abc==, Basic realm="x"', [['negotiate', {}], ['basic', { realm: 'x' }]]],
    ['Basic realm="x", Bearer realm="y",service="s"', [['basic', { realm: 'x' }], ['bearer', { realm: 'y', service: 's' }]]],
    ['Bearer realm="first",realm="second"', [['bearer', { realm: 'first' }]]],
    ['', []],
    ['Bearer realm="unterminated', []],
    ['Bearer realm=a b', []],
    ['"quoted-scheme"', []],
    [`Bearer realm="${'x'.repeat(9000)}"`, []],
  ])('%s', (header, want) => {
    expect(params(header)).toEqual(want);
  });

  it('property: never throws; every challenge has a token scheme and string parameters', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('B', 'e', 'a', 'r', ' ', ',', '=', '"', '\\', 'x') })), (h) => {
      for (const c of parseChallenges(h)) {
        expect(c.scheme).toMatch(/^[!#$%&'*+.^_`|~0-9a-z-]+$/);
        for (const v of c.params.values()) expect(typeof v).toBe('string');
      }
    }), { numRuns: 3000 });
  });

  it('property: a built Bearer challenge parses back to its parameters', () => {
    const value = fc.string({ maxLength: 40 });
    fc.assert(fc.property(value, value, value, (realm, service, scope) => {
      const q = (s: string) => `"${s.replace(/[\\"]/g, '\\$&')}"`;
      const [c] = parseChallenges(`Bearer realm=${q(realm)},service=${q(service)},scope=${q(scope)}`);
      expect(c).toBeDefined();
      expect(Object.fromEntries(c!.params)).toEqual({ realm, service, scope });
    }), { numRuns: 1000 });
  });
});

describe('parseManifest', () => {
  const module = Buffer.from('\0asm\x01\0\0\0');
  const sig = Buffer.from('sig');
  const good = () => JSON.parse(buildManifest({ name: 'process', abiVersion: 1, module, signature: sig, signingKeyId: '0123456789abcdef', version: 'v' }).toString()) as Record<string, any>;
  const parse = (doc: unknown, max = 1 << 20) => parseManifest(Buffer.from(JSON.stringify(doc)), max);

  it('what buildManifest writes parses back: name, ABI, module and signature descriptors, key id', () => {
    const a = parse(good());
    expect(a).toMatchObject({
      name: 'process', abiVersion: 1, signingKeyId: '0123456789abcdef',
      module: { mediaType: MODULE_MEDIA_TYPE, digest: sha256Digest(module), size: module.length },
      signature: { mediaType: SIGNATURE_MEDIA_TYPE, digest: sha256Digest(sig), size: 3 },
    });
    expect(good().artifactType).toBe(ARTIFACT_TYPE);
  });

  it.each<[string, (m: Record<string, any>) => unknown, RegExp]>([
    ['not an object', () => [], /not a JSON object/],
    ['schemaVersion 1', (m) => ({ ...m, schemaVersion: 1 }), /schemaVersion/],
    ['an image index', (m) => ({ ...m, mediaType: 'application/vnd.oci.image.index.v1+json' }), /an index or an image/],
    ['another artifact type', (m) => ({ ...m, artifactType: 'application/vnd.other' }), /artifactType/],
    ['no module layer', (m) => ({ ...m, layers: m.layers.slice(1) }), /0 layers of/],
    ['two module layers', (m) => ({ ...m, layers: [m.layers[0], m.layers[0]] }), /2 layers of/],
    ['a module past the size limit', (m) => ({ ...m, layers: [{ ...m.layers[0], size: 2 << 20 }] }), /more than the limit/],
    ['a negative size', (m) => ({ ...m, layers: [{ ...m.layers[0], size: -1 }] }), /size is not a byte count/],
    ['a bad digest', (m) => ({ ...m, layers: [{ ...m.layers[0], digest: 'sha256:xyz' }] }), /digest/],
    ['no name annotation', (m) => ({ ...m, annotations: {} }), /org.bpfwasm.exporter.name/],
    ['a name that is no exporter name', (m) => ({ ...m, annotations: { ...m.annotations, 'org.bpfwasm.exporter.name': '../x' } }), /exporter.name/],
    ['a non-string annotation', (m) => ({ ...m, annotations: { ...m.annotations, x: 1 } }), /is not a string/],
    ['nine layers', (m) => ({ ...m, layers: Array(9).fill(m.layers[0]) }), /more than 8/],
  ])('refuses %s', (_what, edit, why) => {
    expect(() => parse(edit(good()))).toThrow(why);
  });

  it('refuses bytes that are not JSON, and a manifest past 64 KiB', () => {
    expect(() => parseManifest(Buffer.from('{'), 1 << 20)).toThrow(/not JSON/);
    expect(() => parseManifest(Buffer.alloc(65 * 1024, 32), 1 << 20)).toThrow(/more than 65536/);
  });

  it('property: arbitrary JSON and arbitrary bytes only ever throw an Error', () => {
    fc.assert(fc.property(fc.oneof(fc.json().map((j) => Buffer.from(j)), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b))), (bytes) => {
      try {
        parseManifest(bytes, 1 << 20);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
    }), { numRuns: 3000 });
  });

  it('property: mutating any field of a good manifest yields a valid artifact or a clear Error', () => {
    fc.assert(fc.property(fc.constantFrom('schemaVersion', 'mediaType', 'artifactType', 'config', 'layers', 'annotations'), fc.jsonValue(), (key, value) => {
      const m = good();
      m[key] = value;
      try {
        parse(m);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).message.length).toBeGreaterThan(0);
      }
    }), { numRuns: 2000 });
  });
});
