// Kernel dev_t → block device name (kind 3 of the exporter ABI's `resolve` import), from
// /sys/dev/block/<major>:<minor>/uevent. Names are cached for the process lifetime; a dev_t
// with no device yet is re-read at most once per retry interval, so a device that appears
// later (a new loop device) gets its name without a read per lookup meanwhile.
import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { idKey } from './ids.js';

export interface BlockDeviceOptions {
  /** Defaults to /sys/dev/block. */
  sysDevBlock?: string;
  /** Minimum time between two reads for one unknown dev_t. Default 1000 ms. */
  retryIntervalMs?: number;
  /** Monotonic milliseconds. Default performance.now(). */
  now?: () => number;
}

export interface BlockDeviceStats {
  lookups: number;
  /** Lookups answered from the cache of names. */
  hits: number;
  /** Lookups that found no device. */
  unknown: number;
  /** Reads of /sys for dev_ts not in the cache. */
  reads: number;
}

// Distinct unknown dev_ts remembered for rate limiting; beyond it the memory is reset.
const MAX_MISSES = 4096;

/** The kernel's dev_t split (MINORBITS = 20), not glibc's userspace encoding. */
export function decodeKernelDev(dev: number): { major: number; minor: number } {
  return { major: dev >>> 20, minor: dev & 0xfffff };
}

/** The name in `<dir>/uevent` (DEVNAME=vda), else the name of the device directory itself. */
export function readBlockDeviceName(dir: string): string | undefined {
  try {
    const uevent = readFileSync(`${dir}/uevent`, 'utf8');
    const m = /^DEVNAME=(.+)$/m.exec(uevent);
    if (m) return m[1];
  } catch {
    // No uevent (or no device): try the link below.
  }
  try {
    return basename(realpathSync(dir));
  } catch {
    return undefined;
  }
}

export class BlockDevices {
  readonly #dir: string;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #names = new Map<number, string>();
  readonly #misses = new Map<number, number>(); // dev_t → time of its last failed read
  readonly #stats: BlockDeviceStats = { lookups: 0, hits: 0, unknown: 0, reads: 0 };

  constructor(options: BlockDeviceOptions = {}) {
    this.#dir = options.sysDevBlock ?? '/sys/dev/block';
    this.#retryMs = options.retryIntervalMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** "vda" for dev_t 253<<20|0; undefined if no such device. */
  name(dev: bigint | number): string | undefined {
    this.#stats.lookups++;
    const key = idKey(dev);
    if (typeof key !== 'number' || key > 0xffffffff) return this.#unknown();
    const hit = this.#names.get(key);
    if (hit !== undefined) {
      this.#stats.hits++;
      return hit;
    }
    const now = this.#now();
    const missedAt = this.#misses.get(key);
    if (missedAt !== undefined && now - missedAt < this.#retryMs) return this.#unknown();
    this.#stats.reads++;
    const { major, minor } = decodeKernelDev(key);
    const name = readBlockDeviceName(`${this.#dir}/${major}:${minor}`);
    if (name === undefined) {
      if (this.#misses.size >= MAX_MISSES) this.#misses.clear();
      this.#misses.set(key, now);
      return this.#unknown();
    }
    this.#misses.delete(key);
    this.#names.set(key, name);
    return name;
  }

  stats(): Readonly<BlockDeviceStats> {
    return { ...this.#stats };
  }

  #unknown(): undefined {
    this.#stats.unknown++;
    return undefined;
  }
}
