// Cgroup id → path (resolve kinds 4 and 6): mountinfo, fixture hierarchies in tmpfs, this
// machine's real cgroup2 and v1 memory hierarchies.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CgroupIndex, findCgroupMounts, parseMountInfo } from '../../src/resolve/cgroups.js';

const ino = (dir: string): bigint => statSync(dir, { bigint: true }).ino;
// tmpfs, as the brief asks for the fixture; /tmp is on the root disk here.
const TMPFS = '/dev/shm';

const HYBRID = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`;

describe('parseMountInfo', () => {
  it('reads fields around optional ones, and unescapes octal escapes', () => {
    const text = `${HYBRID}77 22 0:50 /sub\\040dir /mnt/my\\040cgroups rw master:3 shared:7 - cgroup2 none rw\nbroken line\n`;
    const entries = parseMountInfo(text);
    expect(entries).toHaveLength(7);
    expect(entries[3]).toEqual({ root: '/', mountPoint: '/sys/fs/cgroup/memory', fstype: 'cgroup', superOptions: ['rw', 'memory'] });
    expect(entries[6]).toEqual({ root: '/sub dir', mountPoint: '/mnt/my cgroups', fstype: 'cgroup2', superOptions: ['rw'] });
  });
});

describe('findCgroupMounts', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(TMPFS, 'mounts-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** mountinfo with the cgroup2 hierarchy at a fixture dir whose cgroup.controllers is given. */
  function v2At(controllers: string, extra = ''): string {
    writeFileSync(join(dir, 'cgroup.controllers'), `${controllers}\n`);
    return `40 30 0:37 / ${dir} rw - cgroup2 cgroup2 rw\n${extra}`;
  }

  it('hybrid: memory in v1 when the unified root has no memory controller', () => {
    const mountinfo = v2At('hugetlb', HYBRID.split('\n').filter((l) => !l.includes('cgroup2')).join('\n'));
    expect(findCgroupMounts(mountinfo)).toEqual({
      v2: { mountPoint: dir, root: '/', version: 2 },
      memory: { mountPoint: '/sys/fs/cgroup/memory', root: '/', version: 1 },
    });
  });

  it('pure v2: memory in the v2 hierarchy when its root lists memory', () => {
    const found = findCgroupMounts(v2At('cpuset cpu io memory hugetlb pids rdma misc'));
    expect(found.v2).toEqual({ mountPoint: dir, root: '/', version: 2 });
    expect(found.memory).toBe(found.v2);
  });

  it('pure v2 with memory not enabled at the root and no v1 mount: no memory hierarchy', () => {
    expect(findCgroupMounts(v2At('cpu io'))).toEqual({ v2: { mountPoint: dir, root: '/', version: 2 } });
  });

  it('prefers the whole hierarchy over a bind-mounted subtree, whatever the order', () => {
    const mountinfo = `50 22 0:37 /docker/abc /var/lib/x rw - cgroup2 cgroup2 rw\n${v2At('cpu')}`;
    expect(findCgroupMounts(mountinfo).v2).toEqual({ mountPoint: dir, root: '/', version: 2 });
    const onlySub = '50 22 0:37 /docker/abc /var/lib/x rw - cgroup2 cgroup2 rw\n';
    expect(findCgroupMounts(onlySub).v2).toEqual({ mountPoint: '/var/lib/x', root: '/docker/abc', version: 2 });
  });

  it('no cgroup mounts: nothing; overrides win', () => {
    expect(findCgroupMounts('22 1 254:0 / / rw - ext4 /dev/vda rw\n')).toEqual({});
    expect(findCgroupMounts(HYBRID, { v2: { mountPoint: '/x' }, memory: { mountPoint: '/y' } })).toEqual({
      v2: { mountPoint: '/x' },
      memory: { mountPoint: '/y' },
    });
  });

  it("finds this machine's hierarchies in /proc/self/mountinfo", () => {
    const found = findCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    expect(found.v2?.mountPoint).toBe('/sys/fs/cgroup/unified');
    expect(found.memory).toEqual({ mountPoint: '/sys/fs/cgroup/memory', root: '/', version: 1 });
  });
});

describe('CgroupIndex on a 5,000-cgroup fixture in tmpfs', () => {
  let top: string;
  const expected = new Map<bigint, string>();
  let now = 0;
  let index: CgroupIndex;

  beforeAll(() => {
    top = mkdtempSync(join(TMPFS, 'cgroups-'));
    const dirs: string[] = [];
    for (let i = 0; i < 1500; i++) dirs.push(`/system.slice/svc-${i}.service`);
    for (let u = 0; u < 50; u++) for (let s = 0; s < 10; s++) dirs.push(`/user.slice/user-${1000 + u}.slice/session-${s}.scope`);
    for (let p = 0; p < 600; p++) {
      const pod = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${p.toString(16).padStart(8, '0')}.slice`;
      for (let c = 0; c < 4; c++) dirs.push(`${pod}/cri-containerd-${(p * 4 + c).toString(16).padStart(64, '0')}.scope`);
    }
    for (const d of dirs) mkdirSync(top + d, { recursive: true });
    // Every directory gets control files as a real cgroup has, so readdir sees files to skip.
    const all = [''];
    for (const d of dirs) for (let i = d.indexOf('/', 1); ; i = d.indexOf('/', i + 1)) {
      const prefix = i < 0 ? d : d.slice(0, i);
      if (!expected.has(ino(top + prefix))) {
        expected.set(ino(top + prefix), prefix);
        all.push(prefix);
      }
      if (i < 0) break;
    }
    expected.set(ino(top), '/');
    for (const d of all) for (const f of ['cgroup.procs', 'cpu.stat', 'memory.current']) writeFileSync(`${top}${d}/${f}`, '');
  });
  afterAll(() => rmSync(top, { recursive: true, force: true }));
  beforeEach(() => {
    now = 0;
    index = new CgroupIndex(top, { rescanIntervalMs: 1000, now: () => now });
  });

  it('maps every directory inode to its path, "/" for the root', () => {
    expect(expected.size).toBeGreaterThan(5000);
    const started = performance.now();
    expect(index.rescan()).toBe(expected.size);
    const ms = performance.now() - started;
    const again = performance.now();
    index.rescan();
    const warm = performance.now() - again;
    console.log(`cgroup rescan of ${expected.size} dirs: ${ms.toFixed(1)} ms cold, ${warm.toFixed(1)} ms warm`);
    for (const [id, path] of expected) expect(index.path(id), path).toBe(path);
    expect(index.stats()).toMatchObject({ lookups: expected.size, hits: expected.size, rescans: 2, unknown: 0, entries: expected.size });
    expect(index.stats().lastRescanSeconds).toBeGreaterThan(0);
  });

  it('answers a known id with a Map lookup: no rescan, however many lookups', () => {
    const id = ino(`${top}/system.slice/svc-7.service`);
    expect(index.path(id)).toBe('/system.slice/svc-7.service'); // the first lookup walks
    now = 10_000;
    const started = performance.now();
    const n = 200_000;
    for (let i = 0; i < n; i++) index.path(id);
    console.log(`cgroup lookup (hit): ${(((performance.now() - started) / n) * 1e6).toFixed(0)} ns`);
    expect(index.stats()).toMatchObject({ lookups: n + 1, hits: n, rescans: 1, unknown: 0 });
    expect(index.path(Number(id))).toBe('/system.slice/svc-7.service'); // numbers and bigints alike
  });

  it('rescans for an unknown id at most once per interval, and counts unknown ids', () => {
    index.rescan();
    const dir = `${top}/system.slice/late.service`;
    mkdirSync(dir);
    try {
      const id = ino(dir);
      now = 999;
      expect(index.path(id)).toBeUndefined(); // rescan at 0: the next is due at 1000
      expect(index.path(id + 1_000_000n)).toBeUndefined();
      expect(index.stats()).toMatchObject({ lookups: 2, hits: 0, rescans: 1, unknown: 2 });
      now = 1000;
      expect(index.path(id)).toBe('/system.slice/late.service'); // rescanned and found
      expect(index.stats()).toMatchObject({ lookups: 3, hits: 0, rescans: 2, unknown: 2 });
      expect(index.path(id + 1_000_000n)).toBeUndefined(); // no such cgroup: no second walk yet
      now = 1999;
      expect(index.path(id + 1_000_000n)).toBeUndefined();
      expect(index.stats()).toMatchObject({ lookups: 5, hits: 0, rescans: 2, unknown: 4 });
      now = 2000;
      expect(index.path(id + 1_000_000n)).toBeUndefined(); // due: walks again, still unknown
      expect(index.stats()).toMatchObject({ lookups: 6, hits: 0, rescans: 3, unknown: 5 });
      expect(index.path(id)).toBe('/system.slice/late.service');
      expect(index.stats()).toMatchObject({ lookups: 7, hits: 1, rescans: 3, unknown: 5 });
    } finally {
      rmdirSync(dir);
    }
  });

  it('evicts cgroups that vanished and follows renames, keeping unchanged entries', () => {
    const base = `${top}/user.slice/user-1049.slice`;
    const gone = [base, ...Array.from({ length: 10 }, (_, s) => `${base}/session-${s}.scope`)].map(ino);
    const keptId = ino(`${top}/user.slice/user-1000.slice`);
    index.rescan();
    const kept = index.entry(keptId)!;
    kept.label = 'cached';
    const moved = `${top}/system.slice/svc-0.service`;
    const movedId = ino(moved);
    const renamed = `${top}/system.slice/svc-0-renamed.service`;
    const stash = mkdtempSync(join(TMPFS, 'stash-'));
    renameSync(base, `${stash}/x`); // take the subtree out, restore it afterwards
    renameSync(moved, renamed);
    try {
      now = 5000;
      expect(index.rescan()).toBe(expected.size - 11);
      for (const id of gone) expect(index.path(id)).toBeUndefined();
      expect(index.path(movedId)).toBe('/system.slice/svc-0-renamed.service');
      expect(index.entry(keptId)).toBe(kept); // same object: its label survives the rescan
      expect(index.stats().entries).toBe(expected.size - 11);
    } finally {
      renameSync(`${stash}/x`, base);
      renameSync(renamed, moved);
      rmSync(stash, { recursive: true, force: true });
    }
  });

  it('finds a cgroup made under a leaf (whose link count said it had no children)', () => {
    index.rescan();
    const leaf = `${top}/system.slice/svc-5.service`;
    expect(statSync(leaf).nlink).toBe(2);
    mkdirSync(`${leaf}/worker`);
    try {
      now = 1000;
      expect(index.path(ino(`${leaf}/worker`))).toBe('/system.slice/svc-5.service/worker');
    } finally {
      rmdirSync(`${leaf}/worker`);
    }
  });

  it('reports paths from the hierarchy root for a bind-mounted subtree', () => {
    const sub = new CgroupIndex({ mountPoint: `${top}/kubepods.slice`, root: '/kubepods.slice' }, { now: () => 0 });
    expect(sub.path(ino(`${top}/kubepods.slice`))).toBe('/kubepods.slice');
    expect(sub.path(ino(`${top}/kubepods.slice/kubepods-burstable.slice`))).toBe('/kubepods.slice/kubepods-burstable.slice');
    expect(sub.path(ino(`${top}/system.slice`))).toBeUndefined(); // outside the mount
  });
});

describe('CgroupIndex edge cases', () => {
  it('an unmounted hierarchy holds nothing and never throws', () => {
    const index = new CgroupIndex('/nonexistent/cgroup', { now: () => 0 });
    expect(index.rescan()).toBe(0);
    expect(index.path(1)).toBeUndefined();
  });

  it.each([-1, 1.5, Number.NaN, -1n, 1n << 64n])('%s is no id: unknown without a walk', (id) => {
    const index = new CgroupIndex('/nonexistent/cgroup', { now: () => 0 });
    expect(index.path(id)).toBeUndefined();
    expect(index.stats()).toMatchObject({ lookups: 1, unknown: 1, rescans: 0 });
  });

  it('refuses a negative interval', () => {
    expect(() => new CgroupIndex('/x', { rescanIntervalMs: -1 })).toThrow('rescanIntervalMs must be >= 0, got -1');
  });
});

describe("this machine's cgroups", () => {
  const name = `bpfwasm-resolve-${process.pid}`;
  const v2 = `/sys/fs/cgroup/unified/${name}`;
  const mem = `/sys/fs/cgroup/memory/${name}`;
  // A failed test must not leave cgroups behind (rmdir: cgroup dirs hold undeletable files).
  afterAll(() => {
    for (const d of [`${v2}/child`, `${v2}/later`, v2, mem]) {
      try {
        rmdirSync(d);
      } catch {
        // already removed by the test
      }
    }
  });

  it('a cgroup made under the unified hierarchy resolves to its path, and is evicted once removed', () => {
    mkdirSync(`${v2}/child`, { recursive: true });
    let now = 0;
    const index = new CgroupIndex('/sys/fs/cgroup/unified', { now: () => now });
    const parentId = ino(v2);
    const childId = ino(`${v2}/child`);
    try {
      expect(index.path(childId)).toBe(`/${name}/child`);
      expect(index.path(parentId)).toBe(`/${name}`);
      expect(index.path(1)).toBe('/'); // the root cgroup's id; our own (0::/) cgroup
      expect(readFileSync('/proc/self/cgroup', 'utf8')).toMatch(/^0::\/$/m);
    } finally {
      rmdirSync(`${v2}/child`);
    }
    // Ids are never reused, so a dead cgroup's entry stays right until a rescan drops it; the
    // rescan comes from the next unknown id, here a cgroup made after the removal.
    mkdirSync(`${v2}/later`);
    try {
      now = 1000;
      expect(index.path(ino(`${v2}/later`))).toBe(`/${name}/later`);
      expect(index.stats()).toMatchObject({ rescans: 2, unknown: 0 });
      expect(index.path(childId)).toBeUndefined(); // evicted: unknown without another walk
      expect(index.stats()).toMatchObject({ rescans: 2, unknown: 1 });
    } finally {
      rmdirSync(`${v2}/later`);
      rmdirSync(v2);
    }
  });

  it("the v1 memory hierarchy: a new cgroup, and this process's own memory cgroup", () => {
    mkdirSync(mem);
    try {
      const index = new CgroupIndex({ mountPoint: '/sys/fs/cgroup/memory', version: 1 }, { now: () => 0 });
      expect(index.path(ino(mem))).toBe(`/${name}`);
      const own = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))![1]!;
      expect(index.path(ino(`/sys/fs/cgroup/memory${own === '/' ? '' : own}`))).toBe(own);
    } finally {
      rmdirSync(mem);
    }
  });
});
