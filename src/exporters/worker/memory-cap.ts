// Caps everything an exporter module can make its instance hold, by reading its sections and
// rewriting its limits before it is compiled: linear memory, tables, globals, element and data
// segments all draw on one budget of `exporters.maxMemoryPages` × 64 KiB. The engine then
// enforces the limits itself (`memory.grow` and `table.grow` past them return -1), with no
// check on any hot path; a module that declares more than the budget is refused.
import { BpfwasmError } from '../../errors.js';

const MAGIC = 0x6d736100; // "\0asm"
const SECTION_TABLE = 4;
const SECTION_MEMORY = 5;
const SECTION_GLOBAL = 6;
const SECTION_ELEMENT = 9;
const SECTION_DATA = 11;
export const PAGE_BYTES = 65536;
/** What one table entry or element item costs the process: V8 holds ~27 bytes per funcref entry (measured: 10M entries, +270 MB RSS). */
export const TABLE_ENTRY_BYTES = 32;
/** What one global costs, at most (a v128 plus its bookkeeping). */
export const GLOBAL_BYTES = 32;

/** Result of capping: the bytes to compile and what they may hold. */
export interface CappedModule {
  readonly bytes: Uint8Array;
  /** Initial pages of the module's own memory, or undefined when it defines none. */
  readonly initialPages: number | undefined;
  /** Maximum pages after capping (≤ the cap less the other resources). */
  readonly maxPages: number | undefined;
  /** Bytes charged for tables (at their capped maximum), globals, element items and data segments. */
  readonly fixedBytes: number;
}

export interface Section {
  readonly id: number;
  readonly start: number;
  readonly body: number;
  readonly end: number;
}

/**
 * Refuses a module (EXPORTER_BUDGET) whose declared memory, tables, globals and segments do not
 * fit in `capPages` × 64 KiB, or that is itself larger than that; gives every table without a
 * maximum its initial size as maximum, and lowers the memory's maximum to what the budget leaves.
 * Bytes whose section framing is broken are refused as not WebAssembly (EXPORTER_LOAD).
 */
export function capModule(name: string, bytes: Uint8Array, capPages: number): CappedModule {
  const invalid = (why: string): never => {
    throw new BpfwasmError('EXPORTER_LOAD', `${name}: not a valid WebAssembly module: ${why}`);
  };
  const budget = capPages * PAGE_BYTES;
  const over = (what: string): never => {
    throw new BpfwasmError('EXPORTER_BUDGET', `${name}: ${what}, above its budget of exporters.maxMemoryPages ${capPages} (${size(budget)})`);
  };
  if (bytes.length < 8 || new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(0, true) !== MAGIC) {
    invalid('no \\0asm magic');
  }
  if (bytes.length > budget) over(`the module is ${size(bytes.length)}`);
  const reader = new Reader(bytes, invalid);
  const sections = sectionsOf(reader);
  const find = (id: number) => sections.find((s) => s.id === id);

  const tables = readTables(reader, find(SECTION_TABLE), invalid);
  const tableBytes = tables.reduce((sum, t) => sum + t.max * TABLE_ENTRY_BYTES, 0);
  const globals = countOf(reader, find(SECTION_GLOBAL), invalid);
  const items = elementItems(reader, find(SECTION_ELEMENT), invalid);
  const data = dataBytes(reader, find(SECTION_DATA), invalid);
  const fixedBytes = tableBytes + globals * GLOBAL_BYTES + items * TABLE_ENTRY_BYTES + data;
  const memory = readMemory(name, reader, find(SECTION_MEMORY), invalid);

  const initialBytes = (memory?.initial ?? 0) * PAGE_BYTES;
  if (fixedBytes + initialBytes > budget) {
    const parts = [
      memory ? `memory ${memory.initial} pages (${size(initialBytes)})` : '',
      tables.length ? `tables of ${tables.reduce((s, t) => s + t.max, 0)} entries (${size(tableBytes)})` : '',
      globals ? `${globals} globals (${size(globals * GLOBAL_BYTES)})` : '',
      items ? `${items} element items (${size(items * TABLE_ENTRY_BYTES)})` : '',
      data ? `data segments of ${size(data)}` : '',
    ].filter(Boolean);
    over(`it declares ${parts.join(', ')}`);
  }
  const maxPages = memory && Math.min(memory.declaredMax ?? capPages, Math.floor((budget - fixedBytes) / PAGE_BYTES));

  const replaced = new Map<Section, number[]>();
  const tableSection = find(SECTION_TABLE);
  if (tableSection && tables.some((t) => t.rewrite)) {
    replaced.set(tableSection, [...writeU32(tables.length), ...tables.flatMap((t) => [t.refType, 1, ...writeU32(t.min), ...writeU32(t.max)])]);
  }
  const memorySection = find(SECTION_MEMORY);
  if (memorySection && memory && memory.declaredMax !== maxPages) {
    replaced.set(memorySection, [1, 1, ...writeU32(memory.initial), ...writeU32(maxPages!)]);
  }
  return { bytes: replaced.size ? rewrite(bytes, sections, replaced) : bytes, initialPages: memory?.initial, maxPages, fixedBytes };
}

/** The module's sections in order; a section running past the end is refused through the reader's `invalid`. */
export function sectionsOf(reader: Reader): Section[] {
  const bytes = reader.bytes;
  const sections: Section[] = [];
  for (let at = 8; at < bytes.length;) {
    const id = bytes[at]!;
    reader.at = at + 1;
    const len = reader.u32(`section header at byte ${at} is cut`);
    const body = reader.at;
    const end = body + len;
    if (end > bytes.length) reader.invalid(`section ${id} at byte ${at} runs past the end (${end} > ${bytes.length} bytes)`);
    sections.push({ id, start: at, body, end });
    at = end;
  }
  return sections;
}

/** The bytes with each section in `replaced` given a new body. */
export function rewrite(bytes: Uint8Array, sections: readonly Section[], replaced: ReadonlyMap<Section, number[]>): Uint8Array {
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const s of sections) {
    const body = replaced.get(s);
    parts.push(body ? Uint8Array.from([s.id, ...writeU32(body.length), ...body]) : bytes.subarray(s.start, s.end));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let w = 0;
  for (const p of parts) {
    out.set(p, w);
    w += p.length;
  }
  return out;
}

interface Table {
  readonly refType: number;
  readonly min: number;
  /** The declared maximum, or the initial size when none is declared. */
  readonly max: number;
  /** No maximum was declared: one is written. */
  readonly rewrite: boolean;
}

function readTables(r: Reader, s: Section | undefined, invalid: (why: string) => never): Table[] {
  if (!s) return [];
  r.at = s.body;
  const count = r.u32('table section is cut');
  const tables: Table[] = [];
  for (let i = 0; i < count; i++) {
    const refType = r.byte('table section is cut');
    if (refType !== 0x70 && refType !== 0x6f) invalid(`table ${i} has element type 0x${refType.toString(16)} (only funcref and externref tables are supported)`);
    const flags = r.byte('table limits are cut');
    if (flags !== 0 && flags !== 1) invalid(`table ${i} limits flags 0x${flags.toString(16)} (64-bit or shared tables are not supported)`);
    const min = r.u32('table limits are cut');
    const max = flags === 1 ? r.u32('table limits are cut') : min;
    if (max < min) invalid(`table ${i} has a maximum ${max} below its minimum ${min}`);
    tables.push({ refType, min, max, rewrite: flags === 0 });
  }
  if (r.at !== s.end) invalid('table section has trailing bytes');
  return tables;
}

function readMemory(name: string, r: Reader, s: Section | undefined, invalid: (why: string) => never) {
  if (!s) return undefined;
  r.at = s.body;
  const count = r.u32('memory section is cut');
  if (count === 0) return undefined;
  if (count > 1) invalid(`${count} memories (one is allowed)`);
  const flags = r.byte('memory limits are cut');
  if (flags !== 0 && flags !== 1) {
    throw new BpfwasmError('EXPORTER_LOAD', `${name}: memory limits flags 0x${flags.toString(16)} (shared or 64-bit memory) are not supported`);
  }
  const initial = r.u32('memory limits are cut');
  const declaredMax = flags === 1 ? r.u32('memory limits are cut') : undefined;
  if (r.at !== s.end) invalid('memory section has trailing bytes');
  return { initial, declaredMax };
}

/** The count that opens a section's vector (globals). */
function countOf(r: Reader, s: Section | undefined, invalid: (why: string) => never): number {
  if (!s) return 0;
  r.at = s.body;
  const n = r.u32('section is cut');
  if (n > s.end - s.body) invalid(`a section of ${s.end - s.body} bytes claims ${n} entries`);
  return n;
}

/** Items of every element segment (each becomes a table entry or a held reference). */
function elementItems(r: Reader, s: Section | undefined, invalid: (why: string) => never): number {
  if (!s) return 0;
  r.at = s.body;
  const segments = r.u32('element section is cut');
  let items = 0;
  for (let i = 0; i < segments; i++) {
    const flags = r.u32('element segment is cut');
    if (flags > 7) invalid(`element segment ${i} has flags ${flags}`);
    if (flags === 2 || flags === 6) r.u32('element segment is cut'); // table index
    if ((flags & 1) === 0) r.constExpr(); // active: its offset
    if (flags & 3) r.byte('element segment is cut'); // elemkind or reftype
    const n = r.u32('element segment is cut');
    items += n;
    for (let j = 0; j < n; j++) {
      if (flags & 4) r.constExpr();
      else r.u32('element segment is cut');
    }
  }
  if (r.at !== s.end) invalid('element section has trailing bytes');
  return items;
}

/** Bytes of every data segment (a passive one is kept by the instance until dropped). */
function dataBytes(r: Reader, s: Section | undefined, invalid: (why: string) => never): number {
  if (!s) return 0;
  r.at = s.body;
  const segments = r.u32('data section is cut');
  let total = 0;
  for (let i = 0; i < segments; i++) {
    const flags = r.u32('data segment is cut');
    if (flags > 2) invalid(`data segment ${i} has flags ${flags}`);
    if (flags === 2) r.u32('data segment is cut');
    if (flags !== 1) r.constExpr();
    const n = r.u32('data segment is cut');
    if (r.at + n > s.end) invalid(`data segment ${i} runs past its section`);
    r.at += n;
    total += n;
  }
  if (r.at !== s.end) invalid('data section has trailing bytes');
  return total;
}

/** A cursor over the module's bytes; every read past the end is refused as not WebAssembly. */
export class Reader {
  at = 0;

  constructor(readonly bytes: Uint8Array, readonly invalid: (why: string) => never) {}

  byte(cut: string): number {
    const b = this.bytes[this.at];
    if (b === undefined) this.invalid(cut);
    this.at++;
    return b!;
  }

  u32(cut: string): number {
    const r = readU32(this.bytes, this.at) ?? this.invalid(cut);
    this.at = r.next;
    return r.value;
  }

  /** Skips a constant expression (the opcodes constant expressions may use), through its `end`. */
  constExpr(): void {
    for (;;) {
      const op = this.byte('constant expression is cut');
      if (op === 0x0b) return;
      if (op === 0x41 || op === 0x42) this.leb();
      else if (op === 0x23 || op === 0xd2) this.u32('constant expression is cut');
      else if (op === 0xd0) this.byte('constant expression is cut');
      else if (op === 0x43) this.at += 4;
      else if (op === 0x44) this.at += 8;
      else if (op < 0x6a || op > 0x7e) this.invalid(`opcode 0x${op.toString(16)} in a constant expression`);
    }
  }

  /** Skips a LEB128 number of up to 10 bytes. */
  leb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte('constant expression is cut') & 0x80) === 0) return;
    this.invalid('a constant is longer than 10 bytes');
  }

  /** Skips `n` bytes. */
  skip(n: number, cut: string): void {
    if (this.at + n > this.bytes.length) this.invalid(cut);
    this.at += n;
  }
}

function size(bytes: number): string {
  if (bytes >= 2 ** 30) return `${+(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${+(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${+(bytes / 2 ** 10).toFixed(1)} KiB`;
}

/** Reads an unsigned LEB128 u32 at `at`; undefined if it is cut or longer than 5 bytes. */
export function readU32(bytes: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const b = bytes[at + i];
    if (b === undefined) return undefined;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return value > 0xffffffff ? undefined : { value, next: at + i + 1 };
  }
  return undefined;
}

export function writeU32(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    const b = v & 0x7f;
    v >>>= 7;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return out;
}
