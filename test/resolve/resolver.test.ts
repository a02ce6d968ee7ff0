// The Resolver: every resolve kind through one entry point, as the `resolve` import will call it.
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestImports } from '../../src/exporters/worker/guest-imports.js';
import { CgroupRuleError, DEFAULT_CGROUP_RULES, idFromHalves, idKey, isResolveKind, ResolveKind, Resolver } from '../../src/resolve/index.js';

const ino = (dir: string): bigint => statSync(dir, { bigint: true }).ino;
const ID = 'ab'.repeat(32);

/** The kernel dev_t (major << 20 | minor) of the disk holding / (virtio-blk's major is dynamic). */
function rootDiskDev(): bigint {
  const dev = statSync('/', { bigint: true }).dev; // glibc's encoding
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return (major << 20n) | minor;
}

describe('Resolver over fixture hierarchies (hybrid layout)', () => {
  let dir: string;
  let now = 0;
  let resolver: Resolver;
  beforeAll(() => {
    dir = mkdtempSync('/dev/shm/resolver-');
    for (const d of [
      'unified/system.slice/foo.service',
      `unified/system.slice/docker-${ID}.scope`,
      'unified/batch/job-7',
      'memory/docker/abc',
      'sys/254:0',
    ]) {
      mkdirSync(join(dir, d), { recursive: true });
    }
    writeFileSync(join(dir, 'unified/cgroup.controllers'), 'hugetlb\n');
    writeFileSync(join(dir, 'sys/254:0/uevent'), 'MAJOR=254\nMINOR=0\nDEVNAME=vda\n');
    const mountinfo = [
      `30 22 0:27 / ${dir} rw - tmpfs tmpfs rw`,
      `34 30 0:31 / ${dir}/memory rw - cgroup cgroup rw,memory`,
      `40 30 0:37 / ${dir}/unified rw - cgroup2 cgroup2 rw`,
    ].join('\n');
    writeFileSync(join(dir, 'mountinfo'), `${mountinfo}\n`);
    resolver = new Resolver({
      mountinfoPath: join(dir, 'mountinfo'),
      sysDevBlock: join(dir, 'sys'),
      rules: [{ match: '^/batch/(?P<job>job-[0-9]+)$', label: 'batch:$<job>' }, ...DEFAULT_CGROUP_RULES],
      now: () => now,
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the hierarchies from mountinfo', () => {
    expect(resolver.mounts).toEqual({
      v2: { mountPoint: `${dir}/unified`, root: '/', version: 2 },
      memory: { mountPoint: `${dir}/memory`, root: '/', version: 1 },
    });
  });

  it.each<[string, number, () => bigint | number, string | undefined]>([
    ['syscall', ResolveKind.SYSCALL, () => 35, 'nanosleep'],
    ['syscall as bigint', ResolveKind.SYSCALL, () => 257n, 'openat'],
    ['errno', ResolveKind.ERRNO, () => 2, 'ENOENT'],
    ['errno alias', ResolveKind.ERRNO, () => 11, 'EAGAIN'],
    ['block device', ResolveKind.BLOCK_DEVICE, () => (254 << 20) | 0, 'vda'],
    ['unknown block device', ResolveKind.BLOCK_DEVICE, () => (8 << 20) | 0, undefined],
    ['cgroup path', ResolveKind.CGROUP_PATH, () => ino(`${dir}/unified/system.slice/foo.service`), '/system.slice/foo.service'],
    ['cgroup root', ResolveKind.CGROUP_PATH, () => ino(`${dir}/unified`), '/'],
    ['label: custom rule', ResolveKind.CGROUP_WORKLOAD, () => ino(`${dir}/unified/batch/job-7`), 'batch:job-7'],
    ['label: systemd', ResolveKind.CGROUP_WORKLOAD, () => ino(`${dir}/unified/system.slice/foo.service`), 'foo.service'],
    ['label: docker', ResolveKind.CGROUP_WORKLOAD, () => ino(`${dir}/unified/system.slice/docker-${ID}.scope`), ID.slice(0, 12)],
    ['label: none matches', ResolveKind.CGROUP_WORKLOAD, () => ino(`${dir}/unified/batch`), ''],
    ['memory cgroup (v1)', ResolveKind.MEMCG_PATH, () => ino(`${dir}/memory/docker/abc`), '/docker/abc'],
    ['memory id is not a v2 id', ResolveKind.CGROUP_PATH, () => ino(`${dir}/memory/docker/abc`), undefined],
    ['signal', ResolveKind.SIGNAL, () => 9, 'SIGKILL'],
    ['kind 0', 0, () => 1, undefined],
    ['kind 8', 8, () => 1, undefined],
  ])('%s', (_, kind, id, name) => {
    now += 10_000; // every case may rescan: misses here must be real
    expect(resolver.resolve(kind, id())).toBe(name);
  });

  it('an unknown cgroup id gives undefined for the label too, not ""', () => {
    now += 10_000;
    expect(resolver.resolve(ResolveKind.CGROUP_WORKLOAD, 999_999_999n)).toBeUndefined();
  });

  it('resolveHalves takes the ABI pair (lo, hi) as wasm i32s', () => {
    const id = ino(`${dir}/unified/system.slice/foo.service`);
    expect(resolver.resolveHalves(ResolveKind.CGROUP_PATH, Number(id & 0xffffffffn) | 0, Number(id >> 32n) | 0)).toBe('/system.slice/foo.service');
    expect(resolver.resolveHalves(ResolveKind.SYSCALL, 35, 0)).toBe('nanosleep');
    expect(resolver.resolveHalves(ResolveKind.BLOCK_DEVICE, (254 << 20) | 0, 0)).toBe('vda'); // 0x0fe00000 fits in i32
  });

  it('counts per kind; hits are Map lookups', () => {
    const fresh = new Resolver({ mountinfoPath: join(dir, 'mountinfo'), sysDevBlock: join(dir, 'sys'), now: () => 0 });
    const id = ino(`${dir}/unified/batch`);
    for (let i = 0; i < 5; i++) expect(fresh.resolve(ResolveKind.CGROUP_PATH, id)).toBe('/batch');
    expect(fresh.resolve(ResolveKind.CGROUP_PATH, 123_456_789)).toBeUndefined(); // rescan not due
    expect(fresh.resolve(ResolveKind.MEMCG_PATH, ino(`${dir}/memory/docker`))).toBe('/docker');
    const stats = fresh.stats();
    expect(stats.cgroup).toMatchObject({ lookups: 6, hits: 4, rescans: 1, unknown: 1, entries: 6 });
    expect(stats.memoryCgroup).toMatchObject({ lookups: 1, hits: 0, rescans: 1, unknown: 0, entries: 3 });
    expect(stats.blockDevice).toEqual({ lookups: 0, hits: 0, unknown: 0, reads: 0 });
  });

  it('labelForPath applies the configured rules', () => {
    expect(resolver.labelForPath('/batch/job-12')).toBe('batch:job-12');
    expect(resolver.labelForPath('/batch/job-12/x')).toBe('');
  });
});

describe('Resolver on a pure cgroup v2 layout', () => {
  it('memory ids resolve through the v2 hierarchy, one shared index and one walk', () => {
    const dir = mkdtempSync('/dev/shm/resolver-v2-');
    try {
      mkdirSync(join(dir, 'system.slice/db.service'), { recursive: true });
      writeFileSync(join(dir, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
      const resolver = new Resolver({ cgroupV2Root: dir, now: () => 0, mountinfoPath: '/nonexistent' });
      expect(resolver.mounts.memory).toBe(resolver.mounts.v2);
      const id = ino(join(dir, 'system.slice/db.service'));
      expect(resolver.resolve(ResolveKind.CGROUP_PATH, id)).toBe('/system.slice/db.service');
      expect(resolver.resolve(ResolveKind.MEMCG_PATH, id)).toBe('/system.slice/db.service');
      expect(resolver.resolve(ResolveKind.CGROUP_WORKLOAD, id)).toBe('db.service');
      const stats = resolver.stats();
      expect(stats.cgroup).toMatchObject({ lookups: 3, hits: 2, rescans: 1 });
      expect(stats.memoryCgroup).toEqual(stats.cgroup);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Resolver without cgroup mounts', () => {
  it('answers the fixed kinds and leaves the cgroup kinds unknown', () => {
    const resolver = new Resolver({ mountinfoPath: '/nonexistent/mountinfo' });
    expect(resolver.mounts).toEqual({});
    expect(resolver.resolve(ResolveKind.SYSCALL, 0)).toBe('read');
    for (const kind of [ResolveKind.CGROUP_PATH, ResolveKind.CGROUP_WORKLOAD, ResolveKind.MEMCG_PATH]) {
      expect(resolver.resolve(kind, 1)).toBeUndefined();
    }
    expect(resolver.stats()).toMatchObject({ cgroup: undefined, memoryCgroup: undefined });
  });
});

describe('Resolver on this machine', () => {
  const name = `bpfwasm-resolver-${process.pid}`;
  const v2 = `/sys/fs/cgroup/unified/${name}`;
  afterAll(() => {
    try {
      rmdirSync(v2);
    } catch {
      // removed by the test
    }
  });

  it('resolves a fresh unified cgroup, its label, the root disk and our memory cgroup', () => {
    mkdirSync(v2);
    try {
      const resolver = new Resolver({ rules: [{ match: '^/bpfwasm-resolver-([0-9]+)$', label: 'test-$1' }] });
      expect(resolver.resolve(ResolveKind.CGROUP_PATH, ino(v2))).toBe(`/${name}`);
      expect(resolver.resolve(ResolveKind.CGROUP_WORKLOAD, ino(v2))).toBe(`test-${process.pid}`);
      expect(resolver.resolve(ResolveKind.BLOCK_DEVICE, rootDiskDev())).toBe('vda');
      expect(resolver.resolve(ResolveKind.MEMCG_PATH, ino('/sys/fs/cgroup/memory'))).toBe('/');
    } finally {
      rmdirSync(v2);
    }
  });
});

describe('validation and ids', () => {
  it('a bad rule fails construction, naming its index', () => {
    expect(() => new Resolver({ mountinfoPath: '/nonexistent', rules: [{ match: 'x', label: 'x' }, { match: '(', label: '' }] })).toThrow(
      CgroupRuleError,
    );
  });

  it('isResolveKind knows kinds 1..7', () => {
    expect([0, 1, 4, 7, 8, 1.5, -1].map(isResolveKind)).toEqual([false, true, true, true, false, false, false]);
  });

  it('idFromHalves rebuilds any u64 from wasm i32 halves (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (id) => {
        const lo = Number(id & 0xffffffffn) | 0; // as wasm hands an i32 to JS: signed
        const hi = Number(id >> 32n) | 0;
        return idFromHalves(lo, hi) === idKey(id);
      }),
    );
  });

  it.each<[bigint | number, number | bigint | undefined]>([
    [0, 0],
    [1n, 1],
    [2n ** 53n - 1n, 2 ** 53 - 1],
    [2n ** 53n, 2n ** 53n],
    [2n ** 64n - 1n, 2n ** 64n - 1n],
    [2n ** 64n, undefined],
    [-1, undefined],
    [0.5, undefined],
  ])('idKey(%s) = %s', (id, key) => expect(idKey(id)).toBe(key));
});

describe("through the ABI's resolve import (the exporter worker's imports)", () => {
  it('answers real names to a module, kind by kind, and ENOTFOUND for unknown ids', () => {
    const resolver = new Resolver();
    const imports = new GuestImports({
      declare: () => ({ code: -1, why: 'not in this test' }),
      resolve: (kind, id) => resolver.resolve(kind, id),
      log: () => {},
    }, { limits: { maxSeriesPerOwner: 10, maxLabelValueBytes: 64 }, settings: {} });
    const memory = new WebAssembly.Memory({ initial: 1 });
    imports.attach(memory);
    const call = (kind: number, id: bigint): string | number => {
      const n = imports.resolve(kind, Number(id & 0xffffffffn) | 0, Number(id >> 32n) | 0, 64, 256);
      return n < 0 ? n : new TextDecoder().decode(new Uint8Array(memory.buffer, 64, n));
    };
    expect(call(ResolveKind.SYSCALL, 35n)).toBe('nanosleep');
    expect(call(ResolveKind.ERRNO, 2n)).toBe('ENOENT');
    expect(call(ResolveKind.BLOCK_DEVICE, rootDiskDev())).toBe('vda');
    expect(call(ResolveKind.CGROUP_PATH, 1n)).toBe('/');
    expect(call(ResolveKind.CGROUP_WORKLOAD, 1n)).toBe('');
    expect(call(ResolveKind.MEMCG_PATH, ino('/sys/fs/cgroup/memory'))).toBe('/');
    expect(call(ResolveKind.SIGNAL, 9n)).toBe('SIGKILL');
    expect(call(ResolveKind.CGROUP_PATH, 1n << 40n)).toBe(-6); // ENOTFOUND
    expect(call(99, 1n)).toBe(-6);
  });
});
