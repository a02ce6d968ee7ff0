// A tiny WebAssembly binary writer for hostile test modules (no wabt): an ABI v1 skeleton
// whose init and batch bodies, tables, globals and segments a test chooses byte by byte.
import { FUNCTION_EXPORTS, IMPORTS, IMPORT_MODULE } from '../../src/exporters/abi.js';
import { writeU32 as u32 } from '../../src/exporters/worker/memory-cap.js';

export { u32 };

/** Opcodes the test bodies use. */
export const OP = {
  block: 0x02, loop: 0x03, br: 0x0c, brIf: 0x0d, end: 0x0b, call: 0x10, drop: 0x1a,
  localGet: 0x20, localSet: 0x21, localTee: 0x22, i32Const: 0x41, i32Eqz: 0x45, i32LtU: 0x49, i32Add: 0x6a, i32Sub: 0x6b,
  i32Store: 0x36, refNull: 0xd0, funcref: 0x70, void: 0x40,
} as const;

export function i32(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

const vec = (items: number[][]): number[] => [...u32(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...u32(body.length), ...body];
const name = (s: string): number[] => {
  const b = [...new TextEncoder().encode(s)];
  return [...u32(b.length), ...b];
};
const limits = (min: number, max?: number): number[] => (max === undefined ? [0, ...u32(min)] : [1, ...u32(min), ...u32(max)]);

/** Calls import `fn` (imports are numbered in IMPORTS order). */
export function callImport(fn: keyof typeof IMPORTS): number[] {
  return [OP.call, ...u32(Object.keys(IMPORTS).indexOf(fn))];
}

/** `body` run `times` times, counting down in local 0 (declare one i32 local). */
export function repeat(times: number, body: number[]): number[] {
  return [
    OP.i32Const, ...i32(times), OP.localSet, 0,
    OP.block, OP.void, OP.loop, OP.void,
    OP.localGet, 0, OP.i32Eqz, OP.brIf, 1,
    ...body,
    OP.localGet, 0, OP.i32Const, 1, OP.i32Sub, OP.localSet, 0,
    OP.br, 0, OP.end, OP.end,
  ];
}

export interface ModuleSpec {
  /** Linear memory pages (min, optional max); default 2 pages, enough for a 64 KiB batch buffer at 1024. */
  memory?: { min: number; max?: number };
  tables?: { min: number; max?: number }[];
  /** Count of mutable i32 globals. */
  globals?: number;
  /** Active data segments (memory 0). */
  data?: { offset: number; bytes: Uint8Array | number[] }[];
  /** Body of bpfwasm_init (must leave an i32: 0 for success); default returns 0. */
  init?: number[];
  /** Body of bpfwasm_on_batch (params: type, ptr, len, count; must leave an i32). */
  onBatch?: number[];
  /** i32 locals of the init and on_batch bodies. */
  locals?: number;
  /** Body of bpfwasm_batch_buffer (default returns 1024). */
  batchBuffer?: number[];
}

/** An ABI v1 module: all seven imports, memory, the four function exports, plus what `spec` adds. */
export function abiModule(spec: ModuleSpec = {}): Uint8Array {
  const sigs: string[] = [];
  const typeOf = (params: number, results: number): number => {
    const key = `${params}:${results}`;
    if (!sigs.includes(key)) sigs.push(key);
    return sigs.indexOf(key);
  };
  const arity = (sig: string): [number, number] => {
    const m = /^\(([^)]*)\) -> (.*)$/.exec(sig)!;
    return [m[1] ? m[1].split(',').length : 0, m[2] === 'i32' ? 1 : 0];
  };
  const imports = Object.entries(IMPORTS).map(([n, sig]) => [...name(IMPORT_MODULE), ...name(n), 0x00, ...u32(typeOf(...arity(sig)))]);
  const bodies: Record<string, number[]> = {
    bpfwasm_abi_version: [OP.i32Const, 1],
    bpfwasm_init: spec.init ?? [OP.i32Const, 0],
    bpfwasm_batch_buffer: spec.batchBuffer ?? [OP.i32Const, ...i32(1024)],
    bpfwasm_on_batch: spec.onBatch ?? [OP.i32Const, 0],
  };
  const fnNames = Object.keys(FUNCTION_EXPORTS);
  const fnTypes = fnNames.map((f) => typeOf(...arity(FUNCTION_EXPORTS[f]!)));
  const types = sigs.map((k) => {
    const [p, r] = k.split(':').map(Number) as [number, number];
    return [0x60, ...u32(p), ...Array<number>(p).fill(0x7f), ...u32(r), ...Array<number>(r).fill(0x7f)];
  });
  const importCount = imports.length;
  const locals = spec.locals ?? 0;
  const code = fnNames.map((f) => {
    const body = [...(locals ? [1, ...u32(locals), 0x7f] : [0]), ...bodies[f]!, OP.end];
    return [...u32(body.length), ...body];
  });
  const memory = spec.memory ?? { min: 2 };
  const out: number[] = [
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(fnTypes.map((t) => u32(t)))),
    ...(spec.tables?.length ? section(4, vec(spec.tables.map((t) => [OP.funcref, ...limits(t.min, t.max)]))) : []),
    ...section(5, vec([limits(memory.min, memory.max)])),
    ...(spec.globals ? section(6, vec(Array.from({ length: spec.globals }, () => [0x7f, 1, OP.i32Const, 0, OP.end]))) : []),
    ...section(7, vec([
      [...name('memory'), 0x02, 0],
      ...fnNames.map((f, i) => [...name(f), 0x00, ...u32(importCount + i)]),
    ])),
    ...section(10, vec(code)),
    ...(spec.data?.length ? section(11, vec(spec.data.map((d) => [0, OP.i32Const, ...i32(d.offset), OP.end, ...u32(d.bytes.length), ...d.bytes]))) : []),
  ];
  return Uint8Array.from(out);
}
