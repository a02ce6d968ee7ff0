// Who may take and read profiles over HTTP (http.profile): a profile runs code-path sampling of
// any process on the host and shows its symbol names, so /flamegraph is not open like /metrics.
import type { FastifyRequest } from 'fastify';
import { TokenCheck } from '../api/auth.js';
import { BpfwasmError } from '../errors.js';

export type ProfileAccess =
  | { mode: 'off' }
  | { mode: 'local' }
  | { mode: 'token'; token: TokenCheck };

/** 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6 (a dual-stack listener). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** Throws the refusal for a request the access mode does not allow. */
export function checkProfileAccess(access: ProfileAccess, req: Pick<FastifyRequest, 'headers' | 'socket'>): void {
  if (access.mode === 'off') {
    throw new BpfwasmError('PROFILE_HTTP_OFF', 'profiles over HTTP are turned off (http.profile: off); use `bpfwasm profile` over the API');
  }
  if (access.mode === 'local') {
    if (!isLoopback(req.socket.remoteAddress)) {
      throw new BpfwasmError('PROFILE_NOT_LOCAL', 'profiles over HTTP are served only to loopback clients (http.profile: local); use kubectl port-forward, ssh -L or http.profile: token');
    }
    return;
  }
  if (!access.token.allowsHeader(req.headers.authorization)) {
    throw new BpfwasmError('PROFILE_UNAUTHORIZED', 'profiles need "Authorization: Bearer <token>" with the token of http.profileTokenFile');
  }
}

/** The access mode of a loaded config; reads the token file once, at start. */
export function profileAccess(http: { profile: 'off' | 'local' | 'token'; profileTokenFile: string }): ProfileAccess {
  if (http.profile !== 'token') return { mode: http.profile };
  try {
    return { mode: 'token', token: TokenCheck.fromFile(http.profileTokenFile, 'http.profileTokenFile') };
  } catch (err) {
    throw new BpfwasmError('CONFIG_UNREADABLE', (err as Error).message);
  }
}
