// Makes a module interruptible on a thread it shares with others (wasmtime's fuel idea): every
// function entry and every `loop` header decrements an injected global, and when it reaches zero
// calls an injected host import that checks the call's deadline and throws past it. V8 cannot stop
// wasm from another thread short of terminating the whole worker, so this is what lets a hung
// exporter be stopped alone. Decoding every instruction also refuses what the runtime cannot
// stop safely: exception handling (a module could catch the deadline's throw) and opcodes this
// decoder does not know.
import { BpfwasmError } from '../../errors.js';
import { Reader, sectionsOf, writeU32, type Section } from './memory-cap.js';

/** Import module and name of the injected check; ABI v1 modules may not import from it themselves. */
export const FUEL_MODULE = 'bpfwasm_fuel';
export const FUEL_CHECK = 'check';
/** Ticks between two checks: a tick is a call or a loop iteration, so a check costs < 1% of the tightest loop. */
export const FUEL_TICKS = 10_000;

const SECTION_CUSTOM = 0;
const SECTION_TYPE = 1;
const SECTION_IMPORT = 2;
const SECTION_GLOBAL = 6;
const SECTION_EXPORT = 7;
const SECTION_START = 8;
const SECTION_ELEMENT = 9;
const SECTION_CODE = 10;
/** Position of each known section id in the required order (tag 13 sits between memory and global, datacount 12 before code). */
const ORDER: Readonly<Record<number, number>> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 5.5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 9.5, 10: 10, 11: 11 };
const I32 = 0x7f;
const VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);
const utf8 = new TextEncoder();

/** Bytes written piecewise into a growing buffer. */
class Writer {
  private buf = new Uint8Array(1024);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
  }

  push(...bytes: number[]): void {
    this.room(bytes.length);
    for (const b of bytes) this.buf[this.length++] = b;
  }

  copy(src: Uint8Array, from: number, to: number): void {
    this.room(to - from);
    this.buf.set(src.subarray(from, to), this.length);
    this.length += to - from;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * The module with fuel checks injected: an import FUEL_MODULE.FUEL_CHECK `() -> i32` (the next
 * allowance, or a throw past the deadline) appended to the function imports, so every defined
 * function's index moves up by one and every reference to one (calls, ref.func, exports, start,
 * elements) is renumbered. The `name` section is dropped (its indices would be stale).
 * Refuses with EXPORTER_ABI what it cannot instrument, EXPORTER_LOAD what is not WebAssembly.
 */
export function injectFuel(name: string, bytes: Uint8Array): Uint8Array {
  const invalid = (why: string): never => {
    throw new BpfwasmError('EXPORTER_LOAD', `${name}: not a valid WebAssembly module: ${why}`);
  };
  const refuse = (why: string): never => {
    throw new BpfwasmError('EXPORTER_ABI', `${name}: ${why}`);
  };
  const r = new Reader(bytes, invalid);
  const sections = sectionsOf(r);
  const find = (id: number) => sections.find((s) => s.id === id);

  // Types: the check's `() -> i32` goes last, so no type index moves.
  const typeSection = find(SECTION_TYPE);
  if (typeSection) r.at = typeSection.body;
  const typeCount = typeSection ? r.u32('type section is cut') : 0;
  const types = new Writer();
  types.push(...writeU32(typeCount + 1));
  if (typeSection) types.copy(bytes, r.at, typeSection.end);
  types.push(0x60, 0, 1, I32);

  // Imports: count functions and globals already imported; the check goes last.
  let funcImports = 0;
  let globalImports = 0;
  const importSection = find(SECTION_IMPORT);
  let importCount = 0;
  let importsFrom = 0;
  if (importSection) {
    r.at = importSection.body;
    importCount = r.u32('import section is cut');
    importsFrom = r.at;
    for (let i = 0; i < importCount; i++) {
      const module = readName(r);
      readName(r);
      if (module === FUEL_MODULE) refuse(`imports from ${FUEL_MODULE}, which the host reserves`);
      const kind = r.byte('import is cut');
      if (kind === 0) {
        funcImports++;
        r.u32('import is cut');
      } else if (kind === 1) {
        r.byte('import is cut');
        limits(r);
      } else if (kind === 2) {
        limits(r);
      } else if (kind === 3) {
        globalImports++;
        valtype(r);
        r.byte('import is cut');
      } else if (kind === 4) {
        r.byte('import is cut');
        r.u32('import is cut');
      } else invalid(`import kind ${kind}`);
    }
  }
  const imports = new Writer();
  imports.push(...writeU32(importCount + 1));
  if (importSection) imports.copy(bytes, importsFrom, importSection.end);
  for (const s of [FUEL_MODULE, FUEL_CHECK]) {
    const b = utf8.encode(s);
    imports.push(...writeU32(b.length), ...b);
  }
  imports.push(0, ...writeU32(typeCount));
  const check = funcImports;
  const moved = (index: number) => (index >= check ? index + 1 : index);

  // Globals: the fuel counter goes last, so no global index moves; initializers may hold ref.func.
  const globalSection = find(SECTION_GLOBAL);
  const globals = new Writer();
  let globalCount = 0;
  if (globalSection) {
    r.at = globalSection.body;
    globalCount = r.u32('global section is cut');
    globals.push(...writeU32(globalCount + 1));
    for (let i = 0; i < globalCount; i++) {
      const from = r.at;
      valtype(r);
      r.byte('global is cut');
      globals.copy(bytes, from, r.at);
      constExpr(r, globals, moved);
    }
  } else globals.push(1);
  const fuel = globalImports + globalCount;
  globals.push(I32, 1, 0x41, ...writeS32(FUEL_TICKS), 0x0b);

  const replaced = new Map<number, Writer>([[SECTION_TYPE, types], [SECTION_IMPORT, imports], [SECTION_GLOBAL, globals]]);

  const exportSection = find(SECTION_EXPORT);
  if (exportSection) {
    r.at = exportSection.body;
    const n = r.u32('export section is cut');
    const w = new Writer();
    w.push(...writeU32(n));
    for (let i = 0; i < n; i++) {
      const from = r.at;
      readName(r);
      const kind = r.byte('export is cut');
      w.copy(bytes, from, r.at);
      const index = r.u32('export is cut');
      w.push(...writeU32(kind === 0 ? moved(index) : index));
    }
    replaced.set(SECTION_EXPORT, w);
  }
  const startSection = find(SECTION_START);
  if (startSection) {
    r.at = startSection.body;
    const w = new Writer();
    w.push(...writeU32(moved(r.u32('start section is cut'))));
    replaced.set(SECTION_START, w);
  }
  const elementSection = find(SECTION_ELEMENT);
  if (elementSection) replaced.set(SECTION_ELEMENT, elements(r, elementSection, moved));

  const codeSection = find(SECTION_CODE);
  if (codeSection) {
    const prologue = [0x23, ...writeU32(fuel), 0x45, 0x04, 0x40, 0x10, ...writeU32(check), 0x24, ...writeU32(fuel), 0x0b,
      0x23, ...writeU32(fuel), 0x41, 1, 0x6b, 0x24, ...writeU32(fuel)];
    replaced.set(SECTION_CODE, code(r, codeSection, prologue, moved, refuse));
  }

  // Reassemble: replaced sections in place, missing ones inserted in order, the name section dropped.
  const out = new Writer();
  out.copy(bytes, 0, 8);
  const emit = (id: number, body: Uint8Array) => {
    out.push(id, ...writeU32(body.length));
    out.copy(body, 0, body.length);
  };
  const pending = new Map(replaced);
  const flushBefore = (rank: number) => {
    for (const [id, w] of [...pending].sort((a, b) => ORDER[a[0]]! - ORDER[b[0]]!)) {
      if (ORDER[id]! >= rank) break;
      emit(id, w.bytes());
      pending.delete(id);
    }
  };
  for (const s of sections) {
    if (s.id === SECTION_CUSTOM) {
      r.at = s.body;
      if (readName(r) === 'name') continue;
      out.copy(bytes, s.start, s.end);
      continue;
    }
    flushBefore(ORDER[s.id] ?? invalid(`unknown section id ${s.id}`));
    const w = pending.get(s.id);
    pending.delete(s.id);
    if (w) emit(s.id, w.bytes());
    else out.copy(bytes, s.start, s.end);
  }
  flushBefore(Infinity);
  return out.bytes().slice();
}

function readName(r: Reader): string {
  const n = r.u32('name is cut');
  const from = r.at;
  r.skip(n, 'name is cut');
  return new TextDecoder().decode(r.bytes.subarray(from, r.at));
}

function limits(r: Reader): void {
  const flags = r.byte('limits are cut');
  r.u32('limits are cut');
  if (flags & 1) r.u32('limits are cut');
}

/** A value type: one byte, or a typed reference (0x63/0x64 and a heap type). */
function valtype(r: Reader): void {
  const t = r.byte('value type is cut');
  if (t === 0x63 || t === 0x64) r.leb();
}

/** Copies a constant expression through its `end`, renumbering ref.func. */
function constExpr(r: Reader, w: Writer, moved: (i: number) => number): void {
  for (;;) {
    const from = r.at;
    const op = r.byte('constant expression is cut');
    if (op === 0xd2) {
      w.push(op, ...writeU32(moved(r.u32('constant expression is cut'))));
      continue;
    }
    if (op === 0x41 || op === 0x42) r.leb();
    else if (op === 0x23) r.u32('constant expression is cut');
    else if (op === 0xd0) r.byte('constant expression is cut');
    else if (op === 0x43) r.skip(4, 'constant expression is cut');
    else if (op === 0x44) r.skip(8, 'constant expression is cut');
    else if (op === 0xfd) {
      r.u32('constant expression is cut');
      r.skip(16, 'constant expression is cut');
    } else if (op !== 0x0b && (op < 0x6a || op > 0x7e)) r.invalid(`opcode 0x${op.toString(16)} in a constant expression`);
    w.copy(r.bytes, from, r.at);
    if (op === 0x0b) return;
  }
}

function elements(r: Reader, s: Section, moved: (i: number) => number): Writer {
  r.at = s.body;
  const w = new Writer();
  const segments = r.u32('element section is cut');
  w.push(...writeU32(segments));
  for (let i = 0; i < segments; i++) {
    const flags = r.u32('element segment is cut');
    if (flags > 7) r.invalid(`element segment ${i} has flags ${flags}`);
    w.push(...writeU32(flags));
    if (flags === 2 || flags === 6) w.push(...writeU32(r.u32('element segment is cut')));
    if ((flags & 1) === 0) constExpr(r, w, moved);
    if (flags & 3) w.push(r.byte('element segment is cut'));
    const n = r.u32('element segment is cut');
    w.push(...writeU32(n));
    for (let j = 0; j < n; j++) {
      if (flags & 4) constExpr(r, w, moved);
      else w.push(...writeU32(moved(r.u32('element segment is cut'))));
    }
  }
  if (r.at !== s.end) r.invalid('element section has trailing bytes');
  return w;
}

/** Every function body with the prologue at its entry and after each loop header, calls renumbered. */
function code(r: Reader, s: Section, prologue: readonly number[], moved: (i: number) => number, refuse: (why: string) => never): Writer {
  r.at = s.body;
  const w = new Writer();
  const n = r.u32('code section is cut');
  w.push(...writeU32(n));
  const body = new Writer();
  for (let f = 0; f < n; f++) {
    const size = r.u32('function body is cut');
    const end = r.at + size;
    if (end > s.end) r.invalid(`function ${f} runs past the code section`);
    body.length = 0;
    const localsFrom = r.at;
    const groups = r.u32('locals are cut');
    for (let g = 0; g < groups; g++) {
      r.u32('locals are cut');
      valtype(r);
    }
    body.copy(r.bytes, localsFrom, r.at);
    body.push(...prologue);
    instructions(r, end, body, prologue, moved, (why) => refuse(`function ${f}: ${why}`));
    w.push(...writeU32(body.length));
    w.copy(body.bytes(), 0, body.length);
  }
  if (r.at !== s.end) r.invalid('code section has trailing bytes');
  return w;
}

/** Copies instructions up to `end`, decoding each one's immediates. */
function instructions(
  r: Reader, end: number, w: Writer, prologue: readonly number[], moved: (i: number) => number, refuse: (why: string) => never,
): void {
  const cut = 'instruction is cut';
  const memarg = () => {
    const align = r.u32(cut);
    if (align & 0x40) r.u32(cut); // multi-memory: a memory index follows
    r.u32(cut);
  };
  while (r.at < end) {
    const from = r.at;
    const op = r.byte(cut);
    if (op === 0x10 || op === 0x12 || op === 0xd2) {
      w.push(op, ...writeU32(moved(r.u32(cut))));
      continue;
    }
    switch (op) {
      case 0x00: case 0x01: case 0x05: case 0x0b: case 0x0f: case 0x1a: case 0x1b: case 0xd1:
        break;
      case 0x02: case 0x03: case 0x04: {
        const t = r.bytes[r.at];
        if (t === 0x40 || (t !== undefined && VALTYPES.has(t))) r.at++;
        else r.leb(); // a type index (s33)
        if (op === 0x03) {
          w.copy(r.bytes, from, r.at);
          w.push(...prologue);
          continue;
        }
        break;
      }
      case 0x0c: case 0x0d: case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26:
        r.u32(cut);
        break;
      case 0x0e: {
        const targets = r.u32(cut);
        for (let i = 0; i <= targets; i++) r.u32(cut);
        break;
      }
      case 0x11: case 0x13:
        r.u32(cut);
        r.u32(cut);
        break;
      case 0x1c: {
        const k = r.u32(cut);
        for (let i = 0; i < k; i++) valtype(r);
        break;
      }
      case 0x3f: case 0x40:
        r.u32(cut);
        break;
      case 0x41: case 0x42:
        r.leb();
        break;
      case 0x43:
        r.skip(4, cut);
        break;
      case 0x44:
        r.skip(8, cut);
        break;
      case 0xd0:
        valtype(r);
        break;
      case 0xfc:
        prefixedFC(r, r.u32(cut), refuse);
        break;
      case 0xfd:
        prefixedFD(r, r.u32(cut), memarg, refuse);
        break;
      case 0xfe: {
        const sub = r.u32(cut);
        if (sub === 0x03) r.byte(cut);
        else if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) memarg();
        else refuse(`atomic opcode 0xfe 0x${sub.toString(16)} is not supported`);
        break;
      }
      case 0x06: case 0x07: case 0x08: case 0x09: case 0x0a: case 0x18: case 0x19: case 0x1f:
        refuse(`exception handling (opcode 0x${op.toString(16)}) is not supported: a module could catch the host's deadline`);
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) memarg();
        else if (!(op >= 0x45 && op <= 0xc4)) refuse(`opcode 0x${op.toString(16)} at byte ${from} is not supported`);
    }
    w.copy(r.bytes, from, r.at);
  }
  if (r.at !== end) r.invalid('a function body runs past its size');
}

/** Immediates of the 0xFC (saturating truncation, bulk memory, tables) ops. */
function prefixedFC(r: Reader, sub: number, refuse: (why: string) => never): void {
  const cut = 'instruction is cut';
  if (sub <= 7) return;
  switch (sub) {
    case 8: case 12: case 14:
      r.u32(cut);
      r.u32(cut);
      return;
    case 9: case 11: case 13: case 15: case 16: case 17:
      r.u32(cut);
      return;
    case 10:
      r.u32(cut);
      r.u32(cut);
      return;
    default:
      refuse(`opcode 0xfc 0x${sub.toString(16)} is not supported`);
  }
}

/** Immediates of the 0xFD (SIMD, relaxed SIMD) ops. */
function prefixedFD(r: Reader, sub: number, memarg: () => void, refuse: (why: string) => never): void {
  const cut = 'instruction is cut';
  if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) memarg();
  else if (sub === 0x0c || sub === 0x0d) r.skip(16, cut);
  else if (sub >= 0x15 && sub <= 0x22) r.byte(cut);
  else if (sub >= 0x54 && sub <= 0x5b) {
    memarg();
    r.byte(cut);
  } else if (sub > 0x113) refuse(`opcode 0xfd 0x${sub.toString(16)} is not supported`);
}

/** Signed LEB128 of a 32-bit value. */
function writeS32(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
