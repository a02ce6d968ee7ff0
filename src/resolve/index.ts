// Host-side name resolution behind the exporter ABI's `resolve(kind, lo, hi, out, cap)` import.
// One Resolver per collector: every kind answers from a Map once warm; the only I/O is a
// rate-limited read or walk when an id is not known yet.
import { readFileSync } from 'node:fs';
import { ResolveKind } from '../exporters/abi.js';
import { BlockDevices, type BlockDeviceStats } from './block-devices.js';
import { CgroupIndex, findCgroupMounts, type CgroupIndexStats, type CgroupMount, type CgroupMounts } from './cgroups.js';
import { errnoName } from './errno.js';
import { idFromHalves } from './ids.js';
import { CgroupLabelRules, type CgroupRule } from './rules.js';
import { signalName } from './signals.js';
import { syscallName } from './syscalls.js';

export { BlockDevices, decodeKernelDev } from './block-devices.js';
export { CgroupIndex, findCgroupMounts, parseMountInfo } from './cgroups.js';
export type { CgroupIndexStats, CgroupMount, CgroupMounts } from './cgroups.js';
export { ERRNO_ALIASES, errnoName } from './errno.js';
export { idFromHalves, idKey } from './ids.js';
export { CgroupLabelRules, CgroupRuleError, DEFAULT_CGROUP_RULES } from './rules.js';
export type { CgroupRule } from './rules.js';
export { SIGNAL_NAMES, signalName } from './signals.js';
export { SYSCALL_NAMES, syscallName, syscallNumber } from './syscalls.js';

export { ResolveKind };

export function isResolveKind(kind: number): boolean {
  return Number.isInteger(kind) && kind >= ResolveKind.SYSCALL && kind <= ResolveKind.SIGNAL;
}

export interface ResolverOptions {
  /** Where to find the cgroup mounts. Default /proc/self/mountinfo. */
  mountinfoPath?: string;
  /** The cgroup2 hierarchy for kinds 4 and 5, instead of the one in mountinfo. */
  cgroupV2Root?: string | CgroupMount;
  /** The memory controller's hierarchy for kind 6, instead of the one found from mountinfo. */
  memoryCgroupRoot?: string | CgroupMount;
  /** Default /sys/dev/block. */
  sysDevBlock?: string;
  /** config `cgroups.rules`; default DEFAULT_CGROUP_RULES. Validated here (CgroupRuleError). */
  rules?: readonly CgroupRule[];
  /** Minimum time between two cgroup rescans caused by unknown ids. Default 1000 ms. */
  rescanIntervalMs?: number;
  /** Minimum time between two reads of /sys for one unknown block device. Default 1000 ms. */
  blockDeviceRetryMs?: number;
  /** Monotonic milliseconds for the rate limits. Default performance.now(). */
  now?: () => number;
}

export interface ResolverStats {
  cgroup: CgroupIndexStats | undefined;
  /** The same numbers as `cgroup` where memory lives in the v2 hierarchy (one shared index). */
  memoryCgroup: CgroupIndexStats | undefined;
  blockDevice: BlockDeviceStats;
}

function asMount(m: string | CgroupMount | undefined, version: 1 | 2 | undefined): CgroupMount | undefined {
  if (m === undefined) return undefined;
  return typeof m === 'string' ? { mountPoint: m, root: '/', ...(version && { version }) } : m;
}

export class Resolver {
  /** The hierarchies in use, for the collector's startup log ("memory cgroups: v1 at ..."). */
  readonly mounts: Readonly<CgroupMounts>;
  readonly #rules: CgroupLabelRules;
  readonly #blockDevices: BlockDevices;
  readonly #cgroups: CgroupIndex | undefined;
  readonly #memory: CgroupIndex | undefined;

  constructor(options: ResolverOptions = {}) {
    this.#rules = new CgroupLabelRules(options.rules);
    const now = options.now;
    this.#blockDevices = new BlockDevices({
      ...(options.sysDevBlock !== undefined && { sysDevBlock: options.sysDevBlock }),
      ...(options.blockDeviceRetryMs !== undefined && { retryIntervalMs: options.blockDeviceRetryMs }),
      ...(now && { now }),
    });
    const overrides: CgroupMounts = {};
    const v2 = asMount(options.cgroupV2Root, 2);
    const memory = asMount(options.memoryCgroupRoot, undefined);
    if (v2) overrides.v2 = v2;
    if (memory) overrides.memory = memory;
    let mountinfo = '';
    if (!v2 || !memory) {
      try {
        mountinfo = readFileSync(options.mountinfoPath ?? '/proc/self/mountinfo', 'utf8');
      } catch {
        // No mountinfo: no cgroup kinds unless given explicitly.
      }
    }
    this.mounts = Object.freeze(findCgroupMounts(mountinfo, overrides));
    const indexOptions = {
      ...(options.rescanIntervalMs !== undefined && { rescanIntervalMs: options.rescanIntervalMs }),
      ...(now && { now }),
    };
    this.#cgroups = this.mounts.v2 && new CgroupIndex(this.mounts.v2, indexOptions);
    const shared = this.mounts.memory && this.mounts.v2 && this.mounts.memory.mountPoint === this.mounts.v2.mountPoint;
    this.#memory = shared ? this.#cgroups : this.mounts.memory && new CgroupIndex(this.mounts.memory, indexOptions);
  }

  /**
   * The name for `id` of `kind` (ResolveKind), or undefined when unknown, including unknown
   * kinds (check isResolveKind to tell them apart). Kind 5 gives "" for a known cgroup no rule
   * matches. Never throws.
   */
  resolve(kind: number, id: bigint | number): string | undefined {
    switch (kind) {
      case ResolveKind.SYSCALL:
        return typeof id === 'number' ? syscallName(id) : syscallName(Number(id));
      case ResolveKind.ERRNO:
        return typeof id === 'number' ? errnoName(id) : errnoName(Number(id));
      case ResolveKind.BLOCK_DEVICE:
        return this.#blockDevices.name(id);
      case ResolveKind.CGROUP_PATH:
        return this.#cgroups?.path(id);
      case ResolveKind.CGROUP_WORKLOAD: {
        const entry = this.#cgroups?.entry(id);
        if (!entry) return undefined;
        return (entry.label ??= this.#rules.label(entry.path));
      }
      case ResolveKind.MEMCG_PATH:
        return this.#memory?.path(id);
      case ResolveKind.SIGNAL:
        return typeof id === 'number' ? signalName(id) : signalName(Number(id));
      default:
        return undefined;
    }
  }

  /** resolve() for an id as the ABI passes it: low and high 32 bits (i32s from wasm). */
  resolveHalves(kind: number, lo: number, hi: number): string | undefined {
    return this.resolve(kind, idFromHalves(lo, hi));
  }

  /** The label the rules give a cgroup path (config check, `bpfwasm` tooling). */
  labelForPath(path: string): string {
    return this.#rules.label(path);
  }

  /** Counters for the collector's own metrics (cgroup lookups, hits, rescans, unknown ids). */
  stats(): ResolverStats {
    return {
      cgroup: this.#cgroups?.stats(),
      memoryCgroup: this.#memory?.stats(),
      blockDevice: this.#blockDevices.stats(),
    };
  }
}
