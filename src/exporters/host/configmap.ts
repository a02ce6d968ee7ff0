// Kubernetes mounts a ConfigMap (or Secret) volume with its atomic writer: each key is a
// symlink `KEY -> ..data/KEY`, `..data` a symlink to a timestamped directory holding one
// complete version of the payload, and an update writes a new timestamped directory and
// renames a new `..data` over the old one. So a module and its `.sig` change together, in one
// rename that inotify reports only as `..data`; and they must be read from the same
// timestamped directory, or a reader racing an update pairs a new module with an old signature.
import { readFile, readlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readSignature } from './signing.js';

/** The symlink the atomic writer swaps on every update. */
export const DATA_LINK = '..data';

/** Reads racing an update that removes the snapshot they resolved to are retried this often. */
const SNAPSHOT_RETRIES = 5;

/** A module's bytes and its signature file's content (undefined: unsigned), read from one snapshot. */
export interface ModuleFiles {
  readonly bytes: Uint8Array;
  readonly signature: Uint8Array | undefined;
}

/**
 * Reads the module at `path` and its `.sig` from one version of the directory: through the
 * timestamped directory `..data` points to when `path` is an atomic-writer key, else from `path`
 * itself. Undefined when the module does not exist. A signature that cannot be read counts as none.
 * Throws when the directory is updated faster than it can be read.
 */
export async function readModuleSnapshot(path: string): Promise<ModuleFiles | undefined> {
  for (let attempt = 0; ; attempt++) {
    const snapshot = await snapshotPath(path);
    let files: ModuleFiles | undefined;
    try {
      const bytes = await readFile(snapshot);
      files = { bytes, signature: await readSignature(snapshot).catch(() => undefined) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // An update replaced (and may have removed) the snapshot while it was read: read the new one.
    // Timestamped directories are never reused, so an unchanged `..data` means both reads were whole.
    if (snapshot === path || snapshot === (await snapshotPath(path))) return files;
    // Each `..data` rename is also reported to the watch, which reads again once updates pause.
    if (attempt >= SNAPSHOT_RETRIES) throw new Error(`${path} changed on every one of ${SNAPSHOT_RETRIES + 1} reads`);
  }
}

/** `dir/..TIMESTAMP/KEY` for an atomic-writer key `dir/KEY -> ..data/KEY`; otherwise `path`. */
async function snapshotPath(path: string): Promise<string> {
  const key = basename(path);
  const target = await readlink(path).catch(() => undefined);
  if (target !== `${DATA_LINK}/${key}`) return path;
  const version = await readlink(join(dirname(path), DATA_LINK)).catch(() => undefined);
  // Only a sibling directory, as the atomic writer makes: a link elsewhere is read as a plain file.
  if (version === undefined || version.includes('/')) return path;
  return join(dirname(path), version, key);
}
