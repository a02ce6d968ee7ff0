// Test support for the blockio sensor: a loop device only the test uses, real direct I/O on it,
// and the kernel's own count of its requests. Shared by ebpf/blockio/blockio.test.ts and
// test/integration/sensor-blockio.test.ts.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface Disk {
  /** Kernel name, e.g. "loop3". */
  name: string;
  /** Its device node, e.g. /dev/loop3. */
  path: string;
  major: number;
  minor: number;
  /** dev_t in the kernel's internal encoding, as the sensor reports it: major << 20 | minor. */
  dev: number;
  /** Detaches the loop device. */
  detach(): void;
}

/**
 * A loop device over a fresh `bytes`-long file in `dir`. Counts on it are exact: the disk under
 * the repository also carries the journal's and other processes' requests, and there a dd's
 * blocks did not always become exactly its requests (the filesystem decides: now and then
 * fewer reads reached the disk than O_DIRECT blocks were read, and the sensor's programs ran
 * that many fewer times too), so a test could only assert "at least", and still flaked.
 */
export function loopDisk(dir: string, bytes = 16 * 2 ** 20): Disk {
  const backing = join(dir, 'loop-backing');
  execFileSync('truncate', ['-s', String(bytes), backing]);
  const path = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
  const name = basename(path);
  const [major, minor] = readFileSync(`/sys/block/${name}/dev`, 'utf8').trim().split(':').map(Number) as [number, number];
  return { name, path, major, minor, dev: ((major << 20) | minor) >>> 0, detach: () => execFileSync('losetup', ['--detach', path]) };
}

/** Writes `count` blocks of `blockBytes` to `path` with O_DIRECT (dd aligns its buffer, which
 * Node cannot), so each write reaches the disk as its own request; then fsync, which flushes a
 * write-back cache. Returns the bytes written. */
export function directWrites(path: string, blockBytes: number, count: number): number {
  execFileSync('dd', ['if=/dev/zero', `of=${path}`, `bs=${blockBytes}`, `count=${count}`,
    'oflag=direct', 'conv=fsync,notrunc', 'status=none']);
  return blockBytes * count;
}

/** Reads `count` blocks of `blockBytes` from `path` with O_DIRECT, bypassing the page cache so
 * every block is a disk read. Returns the bytes read. */
export function directReads(path: string, blockBytes: number, count: number): number {
  execFileSync('dd', [`if=${path}`, 'of=/dev/null', `bs=${blockBytes}`, `count=${count}`, 'iflag=direct', 'status=none']);
  return blockBytes * count;
}

/** "write back" when the disk has a volatile cache, so fsync sends it flush requests. */
export function writeCache(disk: Disk): string {
  return readFileSync(`/sys/block/${disk.name}/queue/write_cache`, 'utf8').trim();
}

/** The kernel's own count of a disk's completed requests (/sys/block/DISK/stat). */
export interface DiskIo {
  reads: number;
  readBytes: number;
  /** Data writes, and also each fsync's empty preflush write (the sensor counts the flush it becomes). */
  writes: number;
  writeBytes: number;
  flushes: number;
}

export function diskIo(disk: Disk): DiskIo {
  // Fields (Documentation/block/stat.rst): 1 read I/Os, 3 read sectors, 5 write I/Os, 7 write sectors, 16 flush I/Os.
  const f = readFileSync(`/sys/block/${disk.name}/stat`, 'utf8').trim().split(/\s+/).map(Number);
  return { reads: f[0]!, readBytes: f[2]! * 512, writes: f[4]!, writeBytes: f[6]! * 512, flushes: f[15] ?? 0 };
}
