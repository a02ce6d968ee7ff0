// A memory-limited cgroup for tests that must OOM a process without touching the rest of the
// machine: cgroup v2 `memory.max` when the memory controller is on cgroup2, else the v1
// `memory.limit_in_bytes` (and memsw) under our own memory cgroup. Mounts are read from
// /proc/self/mountinfo every time, never assumed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryCgroup {
  version: 1 | 2;
  /** The cgroup directory. */
  dir: string;
  /** Path inside the memory controller's hierarchy ("/a/b"), as the kernel names it. */
  path: string;
  /** Inode of the directory: the cgroup id the kernel reports (kernfs id). */
  id: bigint;
  limitBytes: number;
  /** Runs `argv` inside the cgroup (the shell moves itself in, then execs). */
  spawn(argv: string[], opts?: { addressSpaceKiB?: number }): ChildProcess;
  /** Kills whatever is left inside, then removes the directory. */
  remove(): Promise<void>;
}

interface Mount { point: string; fstype: string; superOptions: string[] }

function mounts(): Mount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((line) => {
    const [pre, post] = line.split(' - ');
    const point = pre!.split(' ')[4]!.replace(/\\040/g, ' ');
    const [fstype, , superOptions] = post!.split(' ');
    return { point, fstype: fstype!, superOptions: (superOptions ?? '').split(',') };
  });
}

/** Our own cgroup path in the hierarchy `match` picks from /proc/self/cgroup. */
function ownPath(match: (controllers: string[], id: string) => boolean): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const m = line.match(/^([^:]*):([^:]*):(.*)$/);
    if (m && match(m[2]!.split(','), m[1]!)) return m[3]!;
  }
  throw new Error('cannot find our own cgroup in /proc/self/cgroup');
}

/** Where to create the cgroup, and its version. */
function locate(): { version: 1 | 2; mountPoint: string; parent: string } {
  const all = mounts();
  const v2 = all.find((m) => m.fstype === 'cgroup2');
  if (v2 && readFileSync(join(v2.point, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) {
    // "No internal processes": our own cgroup holds us, so the new one is its sibling.
    const own = ownPath((_c, id) => id === '0');
    const parent = own === '/' ? '/' : own.slice(0, own.lastIndexOf('/')) || '/';
    const subtree = readFileSync(join(v2.point, parent, 'cgroup.subtree_control'), 'utf8');
    if (!subtree.split(/\s+/).includes('memory')) writeFileSync(join(v2.point, parent, 'cgroup.subtree_control'), '+memory');
    return { version: 2, mountPoint: v2.point, parent };
  }
  const v1 = all.find((m) => m.fstype === 'cgroup' && m.superOptions.includes('memory'));
  if (!v1) throw new Error('no memory cgroup controller is mounted (neither cgroup2 nor v1)');
  return { version: 1, mountPoint: v1.point, parent: ownPath((c) => c.includes('memory')) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates a memory cgroup limited to `limitBytes` (swap included, so the limit is all RAM). */
export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup {
  const { version, mountPoint, parent } = locate();
  const path = join(parent, name);
  const dir = join(mountPoint, path);
  mkdirSync(dir);
  try {
    if (version === 2) {
      writeFileSync(join(dir, 'memory.max'), String(limitBytes));
      if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
    } else {
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
      // memsw must stay >= the memory limit; equal means no swap at all.
      if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(limitBytes));
    }
    const applied = Number(readFileSync(join(dir, version === 2 ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8'));
    if (applied !== limitBytes) throw new Error(`memory limit of ${dir} is ${applied}, not ${limitBytes}`);
  } catch (err) {
    rmdirSync(dir);
    throw err;
  }
  const procs = join(dir, 'cgroup.procs');
  const members = (): number[] => readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number);
  return {
    version, dir, path, limitBytes,
    id: BigInt(statSync(dir).ino),
    spawn(argv, opts = {}) {
      // The address-space cap is a second fence: if the cgroup somehow did not apply, the
      // allocation fails at that size instead of reaching for the whole machine.
      const cap = opts.addressSpaceKiB ?? 1 << 20;
      const script = `ulimit -v ${cap} && echo $$ > '${procs}' && exec "$@"`;
      return spawn('/bin/sh', ['-c', script, 'sh', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    },
    async remove() {
      if (!existsSync(dir)) return;
      for (let tries = 0; ; tries++) {
        const left = members();
        for (const pid of left) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
        }
        try {
          rmdirSync(dir);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || tries > 100) throw err;
        }
        await sleep(20);
      }
    },
  };
}
