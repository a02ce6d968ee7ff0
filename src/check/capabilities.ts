// Linux capabilities: which ones bpfwasm needs, and reading an effective set (CapEff).
import { SENSORS, type Config, type SensorName } from '../config.js';

/** capabilities(7) numbers of the capabilities bpfwasm talks about. */
export const CAPABILITY_BITS = {
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
  CAP_SYSLOG: 34,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;
export type Capability = keyof typeof CAPABILITY_BITS;

/**
 * What each sensor needs to load and attach: every one is a set of tp_btf programs (loading:
 * CAP_BPF; tracing programs reading kernel memory: CAP_PERFMON) and a BPF map or ring buffer.
 * None needs CAP_SYS_RESOURCE: BPF memory is charged to the memory cgroup, not RLIMIT_MEMLOCK.
 */
export const SENSOR_CAPABILITIES: Record<SensorName, readonly Capability[]> = {
  process: ['CAP_BPF', 'CAP_PERFMON'],
  syscalls: ['CAP_BPF', 'CAP_PERFMON'],
  tcp: ['CAP_BPF', 'CAP_PERFMON'],
  blockio: ['CAP_BPF', 'CAP_PERFMON'],
  runqlat: ['CAP_BPF', 'CAP_PERFMON'],
  oom: ['CAP_BPF', 'CAP_PERFMON'],
  bench: ['CAP_BPF', 'CAP_PERFMON'],
};

/** /flamegraph: per-CPU perf events (CAP_PERFMON) running a BPF program (CAP_BPF). */
export const PROFILER_CAPABILITIES: readonly Capability[] = ['CAP_BPF', 'CAP_PERFMON'];

/** Capabilities that add something but are not needed: granting them is the operator's call. */
export const OPTIONAL_CAPABILITIES: readonly { capability: Capability; for: string; instead?: string }[] = [
  {
    capability: 'CAP_SYS_ADMIN',
    for: 'per-program run counts and times (BPF_ENABLE_STATS)',
    instead: 'set sysctl kernel.bpf_stats_enabled=1 on the host',
  },
  {
    capability: 'CAP_SYS_PTRACE',
    for: 'profiles: user symbols of processes more privileged than the collector (/proc/PID/maps)',
  },
  {
    capability: 'CAP_SYSLOG',
    for: 'profiles: kernel symbol names when kernel.kptr_restrict=1',
    instead: 'kernel.kptr_restrict=0',
  },
];

/** The capabilities the enabled sensors and the profiler need, sorted by name. */
export function requiredCapabilities(config: Config): Capability[] {
  const set = new Set<Capability>(PROFILER_CAPABILITIES);
  for (const s of SENSORS) if (config.sensors[s].enabled) for (const c of SENSOR_CAPABILITIES[s]) set.add(c);
  return [...set].sort();
}

/** The capabilities (of those above) in a CapEff hex mask. */
export function capabilitiesInMask(hex: string): Capability[] {
  if (!/^[0-9a-f]+$/i.test(hex)) return [];
  const mask = BigInt(`0x${hex}`);
  return (Object.keys(CAPABILITY_BITS) as Capability[]).filter((c) => (mask >> BigInt(CAPABILITY_BITS[c])) & 1n);
}

/** A process' effective capability mask (hex) from /proc/<pid>/status text. */
export function capEffFromStatus(status: string): string | undefined {
  return /^CapEff:\s*([0-9a-f]+)$/im.exec(status)?.[1];
}

/** The name Kubernetes' securityContext.capabilities uses: CAP_BPF → BPF. */
export function kubernetesName(c: Capability): string {
  return c.slice('CAP_'.length);
}
