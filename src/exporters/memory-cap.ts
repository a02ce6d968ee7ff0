// Caps an exporter's linear memory by rewriting the limits of the module's memory section
// before it is compiled: the engine then enforces the cap itself (`memory.grow` past it
// returns -1), with no check on any hot path.
import { BpfwasmError } from '../errors.js';

const MAGIC = 0x6d736100; // "\0asm"
const SECTION_MEMORY = 5;
const PAGE_BYTES = 65536;

/** Result of capping: the bytes to compile and the memory limits they declare. */
export interface CappedModule {
  readonly bytes: Uint8Array;
  /** Initial pages of the module's own memory, or undefined when it defines none. */
  readonly initialPages: number | undefined;
  /** Maximum pages after capping (≤ the cap). */
  readonly maxPages: number | undefined;
}

/**
 * Refuses a module whose memory starts above `capPages`, and lowers (or sets) its maximum to
 * `capPages`. Bytes whose section framing is broken are refused as not WebAssembly.
 */
export function capMemory(name: string, bytes: Uint8Array, capPages: number): CappedModule {
  const invalid = (why: string): never => {
    throw new BpfwasmError('EXPORTER_LOAD', `${name}: not a valid WebAssembly module: ${why}`);
  };
  if (bytes.length < 8 || new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(0, true) !== MAGIC) {
    invalid('no \\0asm magic');
  }
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at]!;
    const size = readU32(bytes, at + 1) ?? invalid(`section header at byte ${at} is cut`);
    const body = size.next;
    const end = body + size.value;
    if (end > bytes.length) invalid(`section ${id} at byte ${at} runs past the end (${end} > ${bytes.length} bytes)`);
    if (id === SECTION_MEMORY) return patchMemorySection(name, bytes, at, body, end, capPages, invalid);
    at = end;
  }
  return { bytes, initialPages: undefined, maxPages: undefined };
}

function patchMemorySection(
  name: string, bytes: Uint8Array, start: number, body: number, end: number, capPages: number, invalid: (why: string) => never,
): CappedModule {
  const count = readU32(bytes, body) ?? invalid('memory section is cut');
  if (count.value === 0) return { bytes, initialPages: undefined, maxPages: undefined };
  if (count.value > 1) invalid(`${count.value} memories (one is allowed)`);
  const flags = bytes[count.next];
  if (flags !== 0 && flags !== 1) {
    throw new BpfwasmError('EXPORTER_LOAD', `${name}: memory limits flags 0x${(flags ?? 0).toString(16)} (shared or 64-bit memory) are not supported`);
  }
  const initial = readU32(bytes, count.next + 1) ?? invalid('memory limits are cut');
  const declaredMax = flags === 1 ? readU32(bytes, initial.next) ?? invalid('memory limits are cut') : undefined;
  const limitsEnd = declaredMax ? declaredMax.next : initial.next;
  if (limitsEnd !== end) invalid('memory section has trailing bytes');
  if (initial.value > capPages) {
    throw new BpfwasmError('EXPORTER_LOAD',
      `${name}: memory starts at ${initial.value} pages (${mib(initial.value)}), above exporters.maxMemoryPages ${capPages} (${mib(capPages)})`);
  }
  const max = Math.min(declaredMax?.value ?? capPages, capPages);
  if (declaredMax && declaredMax.value === max) return { bytes, initialPages: initial.value, maxPages: max };

  const section = [1, 1, ...writeU32(initial.value), ...writeU32(max)];
  const out = new Uint8Array(bytes.length - (end - start) + 1 + writeU32(section.length).length + section.length);
  out.set(bytes.subarray(0, start), 0);
  let w = start;
  out[w++] = SECTION_MEMORY;
  for (const b of [...writeU32(section.length), ...section]) out[w++] = b;
  out.set(bytes.subarray(end), w);
  return { bytes: out, initialPages: initial.value, maxPages: max };
}

function mib(pages: number): string {
  const bytes = pages * PAGE_BYTES;
  return bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : `${bytes / 2 ** 20} MiB`;
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
