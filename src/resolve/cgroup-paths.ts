// The cgroup v2 group a setting names (sensors.syscalls.cgroup): its mount, id and depth.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroupMounts } from './cgroups.js';

/** The cgroup2 mount point, from /proc/self/mountinfo (on a hybrid host /sys/fs/cgroup/unified). */
export function cgroup2Mount(mountinfo = '/proc/self/mountinfo'): string | undefined {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return undefined;
  }
  return findCgroupMounts(text).v2?.mountPoint; // the resolver's parser: one reading of mountinfo's format
}

/**
 * A cgroup v2 id from a numeric id, or from a path (absolute, or under the cgroup2 mount);
 * otherwise why `value` names no group, in words that follow the setting's name.
 */
export function findCgroupId(value: string): { id: bigint } | { problem: string } {
  if (/^[0-9]+$/.test(value)) return { id: BigInt(value) };
  const mount = cgroup2Mount();
  if (mount) {
    // A path under the mount is taken as is; anything else is relative to the mount.
    const path = value === mount || value.startsWith(`${mount}/`) ? value : join(mount, value);
    try {
      const st = statSync(path, { bigint: true });
      if (st.isDirectory()) return { id: st.ino }; // a cgroup v2 id is its directory's inode number
    } catch {
      // reported below
    }
  }
  return { problem: `names no cgroup v2 group: ${JSON.stringify(value)} is neither an id nor a directory${mount ? ` (the cgroup2 mount is ${mount})` : ' (no cgroup2 mount found)'}` };
}

/** Depth of a cgroup path below the cgroup2 root (the root is 0), or undefined for an id or ''. */
export function cgroupLevel(value: string): number | undefined {
  if (value === '' || /^[0-9]+$/.test(value)) return undefined;
  const mount = cgroup2Mount();
  const rel = mount && (value === mount || value.startsWith(`${mount}/`)) ? value.slice(mount.length) : value;
  return rel.split('/').filter(Boolean).length;
}
