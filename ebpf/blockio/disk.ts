// Test support for the blockio sensor: the whole disk under a path, and real direct I/O on it.
// Shared by ebpf/blockio/blockio.test.ts and test/integration/sensor-blockio.test.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface Disk {
  /** Kernel name, e.g. "vda". */
  name: string;
  major: number;
  minor: number;
  /** dev_t in the kernel's internal encoding, as the sensor reports it: major << 20 | minor. */
  dev: number;
}

/** The whole disk holding `path`'s filesystem (the disk, not the partition). Throws when the
 * filesystem is not on a block device (tmpfs, overlay): blockio tests need a real disk. */
export function diskOf(path: string): Disk {
  const st = statSync(path, { bigint: true });
  // glibc's dev_t encoding, as stat(2) returns it.
  const major = Number(((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn));
  const minor = Number((st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn));
  const sys = `/sys/dev/block/${major}:${minor}`;
  if (!existsSync(sys)) throw new Error(`${path} is on device ${major}:${minor}, which is not a block device`);
  let dir = realpathSync(sys);
  // A partition's sysfs directory sits inside its disk's.
  if (existsSync(join(dir, 'partition'))) dir = dirname(dir);
  const [diskMajor, diskMinor] = readFileSync(join(dir, 'dev'), 'utf8').trim().split(':').map(Number) as [number, number];
  return { name: basename(dir), major: diskMajor, minor: diskMinor, dev: ((diskMajor << 20) | diskMinor) >>> 0 };
}

/** Writes `count` blocks of `blockBytes` to `file` with O_DIRECT (dd aligns its buffer, which
 * Node cannot), so each write reaches the disk as its own request; then fsync, which flushes a
 * write-back cache. Returns the bytes written. */
export function directWrites(file: string, blockBytes: number, count: number): number {
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, `bs=${blockBytes}`, `count=${count}`,
    'oflag=direct', 'conv=fsync,notrunc', 'status=none']);
  return blockBytes * count;
}

/** Reads `file` back with O_DIRECT, bypassing the page cache so every block is a disk read. */
export function directReads(file: string, blockBytes: number): number {
  execFileSync('dd', [`if=${file}`, 'of=/dev/null', `bs=${blockBytes}`, 'iflag=direct', 'status=none']);
  return statSync(file).size;
}

/** "write back" when the disk has a volatile cache, so fsync sends it flush requests. */
export function writeCache(disk: Disk): string {
  return readFileSync(`/sys/block/${disk.name}/queue/write_cache`, 'utf8').trim();
}
