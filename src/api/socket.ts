// The unix socket the API listens on: its directory, a stale file from a crashed collector,
// and mode 0600 from the moment it exists (the file mode is the access control).
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { BpfwasmError } from '../errors.js';

/** Creates the directory and removes a socket nobody listens on; refuses a live one. */
export async function prepareSocketPath(path: string): Promise<void> {
  try {
    makeDirectories(dirname(path));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new BpfwasmError('API_UNAVAILABLE', `cannot create ${dirname(path)} for api.socket: ${e.code ? `${e.code} on ${e.path}` : e.message}; set api.socket to a writable path, or api.enabled: false`);
  }
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new BpfwasmError('API_UNAVAILABLE', `api.socket ${path} exists and is not a socket; remove it or choose another path`);
  if (await answers(path)) throw new BpfwasmError('API_UNAVAILABLE', `api.socket ${path} is in use: another collector is running`);
  unlinkSync(path);
}

/**
 * `mkdir -p`, one level at a time: Node's recursive mkdirSync spins forever at 100% CPU where
 * mkdir fails with ENOENT under an existing parent (/proc, /sys).
 */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !exists(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR', path: dir });
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * Runs `bind` (which creates the socket file) with a umask that leaves only the owner's
 * read/write bits, so the socket is never reachable by others, then pins and checks 0600.
 */
export async function bindPrivate<T>(path: string, bind: () => Promise<T>): Promise<T> {
  const old = process.umask(0o177);
  let result: T;
  try {
    result = await bind();
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
  const mode = statSync(path).mode & 0o777;
  if (mode !== 0o600) throw new BpfwasmError('API_UNAVAILABLE', `api.socket ${path} has mode ${mode.toString(8)}, not 600`);
  return result;
}

export function removeSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // already gone
  }
}
