// Constants of the helper → collector wire protocol (ebpf/PROTOCOL.md).
export const FRAME_MAGIC = 0x31465742; // bytes "BWF1"
export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER_SIZE = 24;
export const MAX_FRAME_PAYLOAD = 1 << 20;

export const FrameKind = {
  HELLO: 1,
  EVENTS: 2,
  STATS: 3,
  READY: 4,
  LOG: 5,
  PROFILE_SAMPLES: 6,
  PROFILE_STACKS: 7,
  PROCESS_MAPS: 8,
  PROFILE_DONE: 9,
} as const;

export const MAX_FRAME_KIND = FrameKind.PROFILE_DONE;

/** Bytes per PROFILE_SAMPLES record. */
export const PROFILE_SAMPLE_SIZE = 40;

export const STAT_RECORD_SIZE = 16;

export const StatKind = {
  RING_DROPS: 1,
  RING_SUBMITTED: 2,
  RECORDS_WRITTEN: 3,
  PROG_RUN_COUNT: 4,
  PROG_RUN_TIME_NS: 5,
  MAP_FULL: 6,
} as const;

/** 0xffff in a stat record's sensor or cpu field: not per sensor / not per CPU. */
export const STAT_NONE = 0xffff;

export interface HelloMessage {
  protocol: number;
  helper: string;
  kernel: string;
  pid: number;
  ncpus: number;
  sensors: { id: number; name: string; programs: string[]; record_types: number[] }[];
}

/** A sensor the helper left off (ebpf/PROTOCOL.md, "Partial start"). */
export interface SensorFailure {
  name: string;
  /** open, load, attach, or a setup step of the helper's generic code. */
  step: string;
  errno: number;
  /** libbpf's or the verifier's first meaningful line. */
  error: string;
  /** The hooks it tried, when its adapter chose any. */
  route?: string;
}

export interface ReadyMessage {
  load_ms: number;
  attach_ms: number;
  /** The attached sensors. */
  sensors: string[];
  failed: SensorFailure[];
  /** sensor → the route its adapter chose; absent when it says none. */
  routes: Record<string, string>;
}

export interface LogMessage {
  level: string;
  msg: string;
}
