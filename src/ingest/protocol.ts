// Constants of the helper → collector wire protocol (ebpf/PROTOCOL.md).
// The numbers are generated from ebpf/schema/abi.yaml, like the helper's bpfwasm_protocol.h.
import { FrameKind } from './generated/protocol.js';
export { FRAME_MAGIC, FrameKind, MAX_FRAME_KIND, PROTOCOL_VERSION, StatKind } from './generated/protocol.js';
export const FRAME_HEADER_SIZE = 24;
export const MAX_FRAME_PAYLOAD = 1 << 20;

/** Bytes per PROFILE_SAMPLES record. */
export const PROFILE_SAMPLE_SIZE = 40;

export const STAT_RECORD_SIZE = 16;

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

/** Bounds a HELLO must respect: the collector allocates series per sensor and CPU from it. */
const MAX_HELLO_CPUS = 8192;
const MAX_HELLO_SENSORS = 64;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Whether a control frame's JSON has the fields the collector reads, of the right types and
 * within bounds (more fields are fine: a newer helper may add some).
 */
export function isWellFormedControl(kind: number, m: unknown): boolean {
  if (!isObject(m)) return false;
  switch (kind) {
    case FrameKind.HELLO:
      return typeof m.helper === 'string' && typeof m.kernel === 'string' && Number.isInteger(m.ncpus)
        && (m.ncpus as number) >= 1 && (m.ncpus as number) <= MAX_HELLO_CPUS
        && Array.isArray(m.sensors) && m.sensors.length <= MAX_HELLO_SENSORS
        && m.sensors.every((s) => isObject(s) && typeof s.name === 'string' && isStringList(s.programs)
          && Array.isArray(s.record_types) && s.record_types.every((t) => Number.isInteger(t)));
    case FrameKind.READY:
      return isNumber(m.load_ms) && isNumber(m.attach_ms) && Array.isArray(m.sensors);
    case FrameKind.LOG:
      return typeof m.level === 'string' && typeof m.msg === 'string';
    case FrameKind.PROFILE_DONE:
      return ['hz', 'seconds', 'duration_ms', 'ncpus', 'samples'].every((k) => isNumber(m[k])) && isObject(m.stack_errors)
        && ['kernel_missing', 'user_missing', 'lost', 'other'].every((k) => isNumber((m.stack_errors as Record<string, unknown>)[k]));
    default:
      return false;
  }
}
