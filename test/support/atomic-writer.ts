// Kubernetes' atomic writer (pkg/volume/util/atomic_writer.go), step by step, as the kubelet
// updates a mounted ConfigMap: the same names, links, modes and order, so tests see on disk
// exactly what a collector in a pod sees.
import { randomInt } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** `..2006_01_02_15_04_05.` and a random decimal suffix, as Go's os.MkdirTemp makes it from the writer's time format. */
function timestampPrefix(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.`;
}

/** Writes `payload` (key → content) as the ConfigMap volume's new version in `dir`. */
export function atomicWrite(dir: string, payload: Record<string, Uint8Array>, mode = 0o644): void {
  const dataLink = join(dir, '..data');
  let old: string | undefined;
  try {
    old = readlinkSync(dataLink);
  } catch {
    // First write.
  }
  const oldKeys = old ? readdirSync(join(dir, old)) : [];
  // Steps 5-6: the new payload in a new timestamped directory.
  const tsDir = join(dir, `${timestampPrefix()}${randomInt(2 ** 32)}`);
  mkdirSync(tsDir, { mode: 0o755 });
  for (const [key, content] of Object.entries(payload)) {
    writeFileSync(join(tsDir, key), content);
    chmodSync(join(tsDir, key), mode);
  }
  // Steps 7-8: ..data_tmp -> the new directory, renamed over ..data (the one atomic step).
  const tmpLink = join(dir, '..data_tmp');
  symlinkSync(basename(tsDir), tmpLink);
  renameSync(tmpLink, dataLink);
  // Step 9: user-visible links for new keys.
  for (const key of Object.keys(payload)) {
    if (!exists(join(dir, key))) symlinkSync(join('..data', key), join(dir, key));
  }
  // Steps 10-11: links of keys no longer in the payload, then the old version, are removed.
  for (const key of oldKeys) if (!(key in payload)) unlinkSync(join(dir, key));
  if (old) rmSync(join(dir, old), { recursive: true });
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
