// A client for the parts of the OCI distribution API (distribution-spec v1.1) an exporter
// artifact needs: manifests and blobs, pulled and pushed, with anonymous, Basic and Bearer-token
// auth (the registry's 401 challenge says which). Every answer is hostile until checked: each
// request has a deadline and a byte limit, and every manifest and blob is verified against its
// sha256 digest before anyone sees it.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BpfwasmError } from '../../errors.js';
import { MANIFEST_MEDIA_TYPE, MAX_MANIFEST_BYTES, sha256Digest, type Descriptor } from './artifact.js';
import { parseChallenges } from './challenge.js';
import { DIGEST } from './reference.js';

/** Why a registry operation failed: the `reason` label of the pull metrics. */
export type OciFailure = 'unreachable' | 'timeout' | 'auth' | 'not_found' | 'too_large' | 'digest_mismatch' | 'bad_response' | 'bad_artifact';

export class OciError extends BpfwasmError {
  constructor(readonly reason: OciFailure, message: string) {
    super('OCI_FAILED', message);
  }
}

export interface OciClientOptions {
  /** Speak http:// instead of https:// (a registry on loopback); never for a registry across a network. */
  readonly plainHttp?: boolean;
  /** PEM CA certificates to trust for the registry (and its token service) instead of the system's. */
  readonly ca?: string;
  readonly username?: string;
  readonly password?: string;
  /** Deadline of one request, from connect to the last byte. */
  readonly timeoutMs: number;
  /** The largest blob (module) accepted. */
  readonly maxBlobBytes: number;
}

interface Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const MAX_REDIRECTS = 3;
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;
const MAX_ERROR_BODY_BYTES = 4096;
/** A token without expires_in is good for 60 s (the token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;

export class OciClient {
  /** Bearer tokens by scope, until they expire. */
  private readonly tokens = new Map<string, { token: string; until: number }>();
  /** The scheme the registry asked for last: Basic credentials are then sent up front. */
  private basic = false;

  constructor(readonly registry: string, private readonly opts: OciClientOptions) {}

  /** The manifest `reference` (tag or digest) names, verified against its digest; `digest` pins it. */
  async manifest(repository: string, reference: string): Promise<{ digest: string; bytes: Buffer }> {
    const res = await this.call('GET', repository, `manifests/${reference}`, 'pull', {
      headers: { accept: MANIFEST_MEDIA_TYPE }, maxBytes: MAX_MANIFEST_BYTES,
    });
    this.expect(res, 200, `manifest ${repository}:${reference}`);
    const digest = sha256Digest(res.body);
    if (DIGEST.test(reference) && digest !== reference) {
      throw new OciError('digest_mismatch', `manifest ${repository}@${reference}: the registry sent bytes of digest ${digest}`);
    }
    const claimed = header(res.headers, 'docker-content-digest');
    if (claimed !== undefined && DIGEST.test(claimed) && claimed !== digest) {
      throw new OciError('digest_mismatch', `manifest ${repository}:${reference}: Docker-Content-Digest says ${claimed}, the bytes are ${digest}`);
    }
    return { digest, bytes: res.body };
  }

  /** The blob `d` describes: exactly d.size bytes of digest d.digest, or an OciError. */
  async blob(repository: string, d: Descriptor): Promise<Buffer> {
    if (d.size > this.opts.maxBlobBytes) throw new OciError('too_large', `blob ${d.digest} is ${d.size} bytes, more than the limit of ${this.opts.maxBlobBytes}`);
    const res = await this.call('GET', repository, `blobs/${d.digest}`, 'pull', { maxBytes: d.size, follow: true });
    this.expect(res, 200, `blob ${d.digest}`);
    if (res.body.length !== d.size) throw new OciError('digest_mismatch', `blob ${d.digest}: ${res.body.length} bytes, the manifest says ${d.size}`);
    const digest = sha256Digest(res.body);
    if (digest !== d.digest) throw new OciError('digest_mismatch', `blob ${d.digest}: the bytes are of digest ${digest} (truncated or corrupted)`);
    return res.body;
  }

  /** Uploads `bytes` unless the registry has them (POST then PUT, the spec's monolithic upload). */
  async pushBlob(repository: string, bytes: Uint8Array): Promise<string> {
    const digest = sha256Digest(bytes);
    const head = await this.call('HEAD', repository, `blobs/${digest}`, 'pull,push', { maxBytes: 0 });
    if (head.status === 200) return digest;
    const start = await this.call('POST', repository, 'blobs/uploads/', 'pull,push', { maxBytes: MAX_ERROR_BODY_BYTES });
    this.expect(start, 202, `upload of ${digest}`);
    const location = header(start.headers, 'location');
    if (!location) throw new OciError('bad_response', `upload of ${digest}: the registry gave no Location`);
    const url = new URL(location, this.base());
    url.searchParams.set('digest', digest);
    const put = await this.send('PUT', url, 'pull,push', repository, {
      headers: { 'content-type': 'application/octet-stream' }, body: bytes, maxBytes: MAX_ERROR_BODY_BYTES,
    });
    this.expect(put, 201, `upload of ${digest}`);
    return digest;
  }

  /** Stores `bytes` as the manifest of `reference` (a tag); returns its digest. */
  async putManifest(repository: string, reference: string, bytes: Uint8Array): Promise<string> {
    const res = await this.call('PUT', repository, `manifests/${reference}`, 'pull,push', {
      headers: { 'content-type': MANIFEST_MEDIA_TYPE }, body: bytes, maxBytes: MAX_ERROR_BODY_BYTES,
    });
    this.expect(res, 201, `manifest ${repository}:${reference}`);
    return sha256Digest(bytes);
  }

  private base(): string {
    return `${this.opts.plainHttp ? 'http' : 'https'}://${this.registry}/v2/`;
  }

  private expect(res: Response, status: number, what: string): void {
    if (res.status === status) return;
    const body = res.body.subarray(0, 200).toString('utf8').replace(/[^\x20-\x7e]/g, '?');
    if (res.status === 404) throw new OciError('not_found', `${what}: not found on ${this.registry}`);
    if (res.status === 401 || res.status === 403) throw new OciError('auth', `${what}: ${res.status} from ${this.registry} (credentials refused or missing)`);
    throw new OciError('bad_response', `${what}: HTTP ${res.status} from ${this.registry}${body ? `: ${body}` : ''}`);
  }

  private call(method: string, repository: string, path: string, actions: string, o: SendOptions): Promise<Response> {
    return this.send(method, new URL(`${repository}/${path}`, this.base()), actions, repository, o);
  }

  /** Sends with what auth is known; on a 401, answers its challenge once and sends again. */
  private async send(method: string, url: URL, actions: string, repository: string, o: SendOptions): Promise<Response> {
    const scope = `repository:${repository}:${actions}`;
    const first = await this.fetch(method, url, { ...o, authorization: this.authorization(scope) });
    if (first.status !== 401) return first;
    const challenges = parseChallenges(header(first.headers, 'www-authenticate') ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      await this.fetchToken(bearer.params, scope);
    } else if (challenges.some((c) => c.scheme === 'basic')) {
      if (this.opts.username === undefined) throw new OciError('auth', `${this.registry} asks for credentials (Basic) and none are configured`);
      if (this.basic) return first; // the credentials were sent and refused
      this.basic = true;
    } else {
      throw new OciError('auth', `${this.registry} answered 401 with no challenge this client speaks`);
    }
    return this.fetch(method, url, { ...o, authorization: this.authorization(scope) });
  }

  private authorization(scope: string): string | undefined {
    const t = this.tokens.get(scope);
    if (t && t.until > Date.now()) return `Bearer ${t.token}`;
    if (this.basic && this.opts.username !== undefined) {
      return `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password ?? ''}`).toString('base64')}`;
    }
    return undefined;
  }

  /** The token protocol (distribution "Token Authentication Specification"): GET realm?service&scope. */
  private async fetchToken(params: ReadonlyMap<string, string>, scope: string): Promise<void> {
    const realm = params.get('realm');
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw new OciError('auth', `${this.registry}'s Bearer challenge has no usable realm (${JSON.stringify(realm)})`);
    }
    // Credentials in the clear only to loopback, where plainHttp is meant for.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.opts.plainHttp && isLoopback(url.hostname))) {
      throw new OciError('auth', `${this.registry}'s token realm ${url.origin} is not https: credentials are not sent in the clear`);
    }
    const service = params.get('service');
    if (service !== undefined) url.searchParams.set('service', service);
    url.searchParams.set('scope', params.get('scope') ?? scope);
    const authorization = this.opts.username !== undefined
      ? `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password ?? ''}`).toString('base64')}` : undefined;
    const res = await this.fetch('GET', url, { maxBytes: MAX_TOKEN_RESPONSE_BYTES, authorization });
    if (res.status !== 200) throw new OciError('auth', `token service ${url.origin} answered ${res.status} for ${scope}`);
    let doc: unknown;
    try {
      doc = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new OciError('auth', `token service ${url.origin} answered something that is not JSON`);
    }
    const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
    const token = typeof d.token === 'string' ? d.token : d.access_token;
    if (typeof token !== 'string' || token === '' || token.length > 16384 || !/^[\x21-\x7e]+$/.test(token)) {
      throw new OciError('auth', `token service ${url.origin} answered no usable token`);
    }
    const seconds = Number.isFinite(d.expires_in) && (d.expires_in as number) > 0 ? Math.min(d.expires_in as number, 3600) : DEFAULT_TOKEN_SECONDS;
    this.tokens.set(scope, { token, until: Date.now() + seconds * 1000 - 5000 });
  }

  /** One HTTP exchange, bounded in time and bytes; redirects followed (GET only) without credentials across origins. */
  private async fetch(method: string, url: URL, o: SendOptions & { authorization?: string }, redirects = 0): Promise<Response> {
    const res = await exchange(method, url, {
      headers: { ...o.headers, ...(o.authorization ? { authorization: o.authorization } : {}) },
      body: o.body, maxBytes: o.maxBytes, timeoutMs: this.opts.timeoutMs, ca: this.opts.ca,
    });
    const location = header(res.headers, 'location');
    if (o.follow && [301, 302, 303, 307, 308].includes(res.status) && location) {
      if (redirects >= MAX_REDIRECTS) throw new OciError('bad_response', `${url.pathname}: more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && !(next.protocol === 'http:' && this.opts.plainHttp)) {
        throw new OciError('bad_response', `${url.pathname}: redirected to ${next.protocol} (not https)`);
      }
      const sameOrigin = next.origin === url.origin;
      return this.fetch('GET', next, { ...o, authorization: sameOrigin ? o.authorization : undefined }, redirects + 1);
    }
    return res;
  }
}

interface SendOptions {
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
  /** Bytes of body accepted; more fails the request (too_large). */
  readonly maxBytes: number;
  readonly follow?: boolean;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** One request/response over node:http(s): the whole exchange within timeoutMs, the body at most maxBytes. */
function exchange(method: string, url: URL, o: {
  headers: Record<string, string>; body?: Uint8Array; maxBytes: number; timeoutMs: number; ca?: string;
}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers = { ...o.headers, ...(o.body ? { 'content-length': String(o.body.length) } : {}) };
    const req = request(url, { method, headers, ...(o.ca ? { ca: o.ca } : {}) });
    const timer = setTimeout(() => {
      req.destroy(new OciError('timeout', `${method} ${url.host}${url.pathname}: no complete answer within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      reject(e instanceof OciError ? e : new OciError('unreachable', `${method} ${url.host}${url.pathname}: ${e.message}`));
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      // An error page or a redirect body is read only as far as a message needs it.
      const limit = status >= 200 && status < 300 ? o.maxBytes : Math.min(o.maxBytes, MAX_ERROR_BODY_BYTES);
      const declared = Number(res.headers['content-length']);
      if (method !== 'HEAD' && status >= 200 && status < 300 && Number.isFinite(declared) && declared > limit) {
        req.destroy(new OciError('too_large', `${method} ${url.host}${url.pathname}: ${declared} bytes, more than the ${limit} expected`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          if (status >= 200 && status < 300) {
            req.destroy(new OciError('too_large', `${method} ${url.host}${url.pathname}: more than the ${limit} bytes expected`));
          } else {
            res.destroy(); // the message has what it needs; the rest is dropped
          }
          return;
        }
        chunks.push(chunk);
      });
      const done = () => {
        clearTimeout(timer);
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks) });
      };
      res.on('end', done);
      res.on('close', () => {
        if (!res.complete && !(status < 200 || status >= 300)) fail(new OciError('unreachable', `${method} ${url.host}${url.pathname}: the connection closed mid-answer`));
        else if (!res.complete) done();
      });
      res.on('error', fail);
    });
    req.end(o.body);
  });
}
