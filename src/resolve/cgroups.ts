// Cgroup id → path (kinds 4 and 6 of the exporter ABI's `resolve` import).
// A cgroup's id (bpf_get_current_cgroup_id, cgroup_id(memcg->css.cgroup)) is the inode number of
// its directory in its hierarchy's mount. Nothing maps an id back to a path short of
// open_by_handle_at (not reachable from node), so the index walks the hierarchy, keeps id → path,
// and rescans when asked for an id it lacks, at most once per interval: ids of cgroups that died
// before their first lookup would otherwise cost a walk per lookup.
import { readFileSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { idKey, type IdKey } from './ids.js';

/** One cgroup hierarchy as mounted. */
export interface CgroupMount {
  /** Where it is mounted: /sys/fs/cgroup/unified, /sys/fs/cgroup/memory, /sys/fs/cgroup. */
  mountPoint: string;
  /**
   * The hierarchy path the mount shows (mountinfo's root field): "/" unless a subtree is bind
   * mounted. Paths are reported from the hierarchy's root, as /proc/<pid>/cgroup shows them.
   */
  root?: string;
  /** 2 for cgroup2, 1 for a v1 controller hierarchy. */
  version?: 1 | 2;
}

export interface MountInfoEntry {
  root: string;
  mountPoint: string;
  fstype: string;
  /** The per-superblock options: for cgroup v1 they name the controllers ("rw,memory"). */
  superOptions: string[];
}

/** Undoes mountinfo's octal escapes (\040 for a space, \011, \012, \134). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/<pid>/mountinfo (proc(5)); lines it cannot read are skipped. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6); // optional fields end at a lone "-"
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({
      root: unescapeMountField(f[3]!),
      mountPoint: unescapeMountField(f[4]!),
      fstype: f[sep + 1]!,
      superOptions: f[sep + 3]!.split(','),
    });
  }
  return out;
}

/** Prefers a mount of the whole hierarchy over a bind-mounted subtree, then the first one. */
function pick(mounts: MountInfoEntry[], version: 1 | 2): CgroupMount | undefined {
  const m = mounts.find((x) => x.root === '/') ?? mounts[0];
  return m && { mountPoint: m.mountPoint, root: m.root, version };
}

export interface CgroupMounts {
  /** The cgroup2 (unified) hierarchy: what bpf_get_current_cgroup_id() ids live in. */
  v2?: CgroupMount;
  /** The hierarchy the memory controller is bound to: the v2 one, or the v1 `memory` mount. */
  memory?: CgroupMount;
}

/** Reads a v2 root's cgroup.controllers; empty if unreadable. */
export function v2Controllers(mount: CgroupMount): string[] {
  try {
    return readFileSync(`${mount.mountPoint}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Finds the hierarchies from mountinfo. The memory controller lives in the v2 hierarchy if its
 * root lists `memory` in cgroup.controllers (pure v2 hosts), else in the v1 `memory` mount
 * (hybrid hosts, where the unified mount carries no controllers).
 */
export function findCgroupMounts(mountinfo: string, overrides: CgroupMounts = {}): CgroupMounts {
  const entries = parseMountInfo(mountinfo);
  const v2 = overrides.v2 ?? pick(entries.filter((m) => m.fstype === 'cgroup2'), 2);
  let memory = overrides.memory;
  if (!memory) {
    if (v2 && v2Controllers(v2).includes('memory')) memory = v2;
    else memory = pick(entries.filter((m) => m.fstype === 'cgroup' && m.superOptions.includes('memory')), 1);
  }
  return { ...(v2 && { v2 }), ...(memory && { memory }) };
}

/** What the index knows of one cgroup; `label` is filled in lazily by the resolver. */
export interface CgroupEntry {
  readonly path: string;
  label?: string;
}

export interface CgroupIndexStats {
  /** Every lookup. */
  lookups: number;
  /** Lookups answered from the index without a rescan. */
  hits: number;
  /** Walks of the hierarchy, the first one included. */
  rescans: number;
  /** Lookups that found no cgroup, even after a rescan (or with the rescan rate-limited). */
  unknown: number;
  /** Cgroups in the index now. */
  entries: number;
  /** Wall time spent walking, in seconds, and the last walk's. */
  rescanSeconds: number;
  lastRescanSeconds: number;
}

export interface CgroupIndexOptions {
  /** Minimum time between two rescans caused by unknown ids. Default 1000 ms. */
  rescanIntervalMs?: number;
  /** Monotonic milliseconds. Default performance.now(). */
  now?: () => number;
}

/** id → path for one hierarchy, rebuilt by walking it. */
export class CgroupIndex {
  readonly mount: Readonly<CgroupMount>;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #byId = new Map<IdKey, CgroupEntry>();
  #lastScan = -Infinity;
  readonly #stats: CgroupIndexStats = {
    lookups: 0,
    hits: 0,
    rescans: 0,
    unknown: 0,
    entries: 0,
    rescanSeconds: 0,
    lastRescanSeconds: 0,
  };

  constructor(mount: CgroupMount | string, options: CgroupIndexOptions = {}) {
    this.mount = typeof mount === 'string' ? { mountPoint: mount, root: '/' } : { root: '/', ...mount };
    this.#intervalMs = options.rescanIntervalMs ?? 1000;
    if (!(this.#intervalMs >= 0)) throw new RangeError(`rescanIntervalMs must be >= 0, got ${options.rescanIntervalMs}`);
    this.#now = options.now ?? (() => performance.now());
  }

  /** The path of cgroup `id` ("/" for the root), or undefined if no cgroup has that id. */
  path(id: bigint | number): string | undefined {
    return this.entry(id)?.path;
  }

  /** The entry for `id`: a Map lookup, plus a rate-limited rescan when the id is unknown. */
  entry(id: bigint | number): CgroupEntry | undefined {
    this.#stats.lookups++;
    const key = idKey(id);
    if (key === undefined) {
      this.#stats.unknown++;
      return undefined;
    }
    const hit = this.#byId.get(key);
    if (hit) {
      this.#stats.hits++;
      return hit;
    }
    if (this.#now() - this.#lastScan >= this.#intervalMs) {
      this.rescan();
      const found = this.#byId.get(key);
      if (found) return found;
    }
    this.#stats.unknown++;
    return undefined;
  }

  /**
   * Walks the hierarchy and replaces the index: cgroups removed since the last walk drop out,
   * so memory follows the live cgroup count. Entries whose path is unchanged are kept (with
   * their label). Returns the number of cgroups found.
   */
  rescan(): number {
    const started = performance.now();
    this.#lastScan = this.#now();
    this.#byId = walkHierarchy(this.mount, this.#byId);
    const seconds = (performance.now() - started) / 1000;
    this.#stats.rescans++;
    this.#stats.rescanSeconds += seconds;
    this.#stats.lastRescanSeconds = seconds;
    this.#stats.entries = this.#byId.size;
    return this.#byId.size;
  }

  stats(): Readonly<CgroupIndexStats> {
    return { ...this.#stats };
  }
}

interface DirStat {
  id: IdKey;
  /** 2 + subdirectories on kernfs and tmpfs; 1 where a filesystem does not count them. */
  nlink: number;
}

/** A directory's id (inode number) and link count, or undefined if it vanished or is unreadable. */
function dirStat(dir: string): DirStat | undefined {
  try {
    const st = statSync(dir, { throwIfNoEntry: false }); // numbers: no 15 BigInts per stat
    if (!st) return undefined;
    if (st.ino <= Number.MAX_SAFE_INTEGER) return { id: st.ino, nlink: st.nlink };
    const big = statSync(dir, { bigint: true, throwIfNoEntry: false }); // a double would round it
    return big && { id: idKey(big.ino)!, nlink: Number(big.nlink) };
  } catch {
    return undefined;
  }
}

/** Joins the mount's hierarchy root and a path below the mount point ("" for the mount itself). */
function hierarchyPath(root: string, rel: string): string {
  if (root === '/' || root === '') return rel || '/';
  return root + rel;
}

/**
 * One pass over the hierarchy: readdir each directory (d_type tells directories from the control
 * files without a stat) and stat each subdirectory for its inode number. A directory whose link
 * count says it has no subdirectories (nlink 2) is not read: most cgroups are leaves, and this
 * halves the walk. Directories that vanish mid-walk are skipped: they are the cgroups that died.
 */
function walkHierarchy(mount: CgroupMount, previous: ReadonlyMap<IdKey, CgroupEntry>): Map<IdKey, CgroupEntry> {
  const out = new Map<IdKey, CgroupEntry>();
  const root = mount.root ?? '/';
  const add = (id: IdKey, rel: string): void => {
    const path = hierarchyPath(root, rel);
    const old = previous.get(id);
    out.set(id, old && old.path === path ? old : { path });
  };
  const top = dirStat(mount.mountPoint);
  if (!top) return out; // hierarchy unmounted: everything it held is gone
  add(top.id, '');
  if (top.nlink === 2) return out;
  const stack: [dir: string, rel: string][] = [[mount.mountPoint, '']];
  while (stack.length > 0) {
    const [dir, rel] = stack.pop()!;
    let children: Dirent[];
    try {
      children = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const child of children) {
      if (!child.isDirectory()) continue;
      const childDir = `${dir}/${child.name}`;
      const st = dirStat(childDir);
      if (!st) continue;
      const childRel = `${rel}/${child.name}`;
      add(st.id, childRel);
      if (st.nlink !== 2) stack.push([childDir, childRel]);
    }
  }
  return out;
}
