// The profile model shared by the profiler, the symbolizer and every renderer.

/** What the helper's profile mode reports (ebpf/PROTOCOL.md, "Profile mode"), before symbolization. */
export interface RawProfile {
  hz: number;
  seconds: number;
  durationMs: number;
  ncpus: number;
  /** Per (tgid, thread, kernel stack, user stack, comm): a sample count. Negative stack ids: none. */
  samples: { tgid: number; pid: number; kernelStackId: number; userStackId: number; count: number; comm: string }[];
  /** Stack id → instruction pointers, leaf first. */
  stacks: Map<number, bigint[]>;
  /** tgid → text of /proc/TGID/maps as captured while sampling. */
  maps: Map<number, string>;
  stackErrors: { kernelMissing: number; userMissing: number; lost: number; other: number };
  /** Sampling was ended early on request (SIGUSR1): the result covers durationMs only. */
  stoppedEarly?: boolean;
}

export type FrameKind = 'kernel' | 'user' | 'jit' | 'process';

export interface Frame {
  /** Function name, or `module+0xoffset` when only the module is known, or `[unknown]`. */
  name: string;
  kind: FrameKind;
  /** The file the frame is in (a shared object, the executable, `[kernel]`, `perf-PID.map`). */
  module?: string;
}

export interface StackSample {
  pid: number;
  comm: string;
  /** Root first: the process (kind 'process'), then user frames, then kernel frames; the leaf last. */
  frames: Frame[];
  count: number;
}

export interface ProfileFilters {
  pid?: number;
  cgroup?: string;
  kernel: boolean;
  user: boolean;
  idle: boolean;
}

export interface Profile {
  id: string;
  /** ms since the epoch */
  startedAt: number;
  hz: number;
  seconds: number;
  filters: ProfileFilters;
  samples: StackSample[];
  totalSamples: number;
  stackErrors: RawProfile['stackErrors'];
  /** What limited the result, said plainly (kptr_restrict, missing frame pointers, …). */
  warnings: string[];
}
