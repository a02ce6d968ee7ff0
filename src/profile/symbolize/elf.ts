// A minimal ELF64 little-endian reader: program headers, function symbols and the GNU build-id.
import { statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { readAt } from '../../big-buffer.js';

/** The only error `parseElf` and `loadElf` throw for bad input. */
export class ElfError extends Error {
  override name = 'ElfError';
}

export const ET_EXEC = 2;
export const ET_DYN = 3;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_DYNSYM = 11;
const STT_NOTYPE = 0;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const NT_GNU_BUILD_ID = 3;
const SHN_UNDEF = 0;

export interface ElfLoad {
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  executable: boolean;
}

export interface ElfSymbolHit {
  name: string;
  /** pc minus the symbol's start. */
  offset: number;
}

export interface ElfFile {
  /** e_type: ET_EXEC (2) loads at its link addresses, ET_DYN (3) anywhere. */
  type: number;
  loads: ElfLoad[];
  buildId?: string;
  /** Function symbols kept (.symtab and .dynsym merged). */
  symbolCount: number;
  /** About what the symbol table holds in memory (what the cache budget counts); the file's bytes are not kept. */
  retainedBytes: number;
  /** The function containing a file-relative virtual address. */
  lookup(vaddr: number): ElfSymbolHit | undefined;
}

/** Parses an ELF64 LE image; throws ElfError (and nothing else) on anything malformed. */
export function parseElf(bytes: Uint8Array): ElfFile {
  return parseImage(new WholeImage(bytes));
}

function parseImage(img: Image): ElfFile {
  const hdr = readHeader(img);
  const loads = readLoads(img, hdr);
  const sections = readSections(img, hdr);
  const buildId = buildIdFromSections(img, sections) ?? buildIdFromSegments(img, hdr);
  const syms = new SymbolBuilder();
  for (const s of sections) {
    if (s.type !== SHT_SYMTAB && s.type !== SHT_DYNSYM) continue;
    const strtab = sections[s.link];
    if (strtab === undefined) throw new ElfError(`symbol table links to missing section ${s.link}`);
    readSymbols(img, s, strtab, syms);
  }
  return { type: hdr.type, loads, ...(buildId === undefined ? {} : { buildId }), ...syms.build() };
}

/**
 * The load bias of a mapping: runtime pc minus file vaddr. The mapping's file offset is the
 * page-aligned p_offset of an executable PT_LOAD, so base = start + (p_offset - mapOffset) - p_vaddr.
 */
export function loadBias(elf: ElfFile, mapStart: number, mapOffset: number): number | undefined {
  for (const l of elf.loads) {
    // 64 KiB: the largest page size a mapping's offset may have been rounded down by.
    if (l.executable && mapOffset < l.offset + l.filesz && mapOffset + 0x10000 > l.offset) {
      // 0 for an executable mapped where it was linked; not 0 for a copy mapped elsewhere
      // (node remaps its own text, file-backed, to another address).
      return mapStart + (l.offset - mapOffset) - l.vaddr;
    }
  }
  return elf.type === ET_EXEC ? 0 : undefined;
}

/**
 * An ELF file's bytes as the parser asks for them: a range, bounds-checked against the whole
 * file, as a Reader whose offsets start at the range.
 */
interface Image {
  readonly length: number;
  read(off: number, len: number, what: string): Reader;
}

function checkRange(length: number, off: number, len: number, what: string): void {
  if (!(off >= 0 && len >= 0 && off + len <= length)) {
    throw new ElfError(`${what} (offset ${off}, ${len} bytes) lies outside the ${length}-byte file`);
  }
}

/** The whole file in memory. */
class WholeImage implements Image {
  constructor(private readonly bytes: Uint8Array) {}
  get length(): number {
    return this.bytes.byteLength;
  }
  read(off: number, len: number, what: string): Reader {
    checkRange(this.length, off, len, what);
    return new Reader(this.bytes.subarray(off, off + len));
  }
}

/**
 * Only the ranges of a file the parser needs (headers, notes, symbol and string tables), read
 * from disk: node's 99 MB binary has 17 MB of symbols and strings, and its code is never read.
 */
class SparseImage implements Image {
  private readonly ranges: { off: number; bytes: Buffer }[] = [];
  constructor(private readonly file: FileHandle, readonly length: number) {}

  /** Reads [off, off + len) unless it lies outside the file (the parser's read then says so) or is held. */
  async fetch(off: number, len: number): Promise<void> {
    if (!(off >= 0 && len > 0 && off + len <= this.length) || this.held(off, len) !== undefined) return;
    const bytes = await readAt(this.file, off, len);
    if (bytes.byteLength < len) throw new ElfError(`the file ended at ${off + bytes.byteLength} bytes while it was read (it changed?)`);
    this.ranges.push({ off, bytes });
  }

  read(off: number, len: number, what: string): Reader {
    checkRange(this.length, off, len, what);
    if (len === 0) return new Reader(new Uint8Array(0));
    const r = this.held(off, len);
    if (r === undefined) throw new ElfError(`${what} (offset ${off}, ${len} bytes) was not read`);
    return new Reader(r.bytes.subarray(off - r.off, off - r.off + len));
  }

  private held(off: number, len: number): { off: number; bytes: Buffer } | undefined {
    return this.ranges.find((r) => off >= r.off && off + len <= r.off + r.bytes.byteLength);
  }
}

/** Little-endian reads over one range of the image (bounds-checked as a whole by Image.read), at offsets from its start. */
class Reader {
  readonly view: DataView;
  readonly buf: Buffer;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number {
    return this.bytes.byteLength;
  }
  u8(off: number): number {
    return this.view.getUint8(off);
  }
  u16(off: number): number {
    return this.view.getUint16(off, true);
  }
  u32(off: number): number {
    return this.view.getUint32(off, true);
  }
  /** u64 as a number: exact below 2^53, which covers every sane offset and user-space address. */
  u64(off: number): number {
    return this.view.getUint32(off + 4, true) * 0x100000000 + this.view.getUint32(off, true);
  }
  /** NUL-terminated string inside [start, end). */
  cstr(off: number, end: number): string {
    const nul = this.buf.indexOf(0, off);
    return this.buf.toString('latin1', off, nul < 0 || nul > end ? end : nul);
  }
}

interface Header {
  type: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
}

function readHeader(img: Image): Header {
  if (img.length < 64) throw new ElfError(`not an ELF file: ${img.length} bytes is shorter than an ELF64 header`);
  const r = img.read(0, 64, 'ELF header');
  if (r.u32(0) !== 0x464c457f) throw new ElfError('not an ELF file: bad magic');
  if (r.u8(4) !== 2) throw new ElfError('not an ELF64 file');
  if (r.u8(5) !== 1) throw new ElfError('not a little-endian ELF file');
  return {
    type: r.u16(16),
    phoff: r.u64(32),
    shoff: r.u64(40),
    phentsize: r.u16(54),
    phnum: r.u16(56),
    shentsize: r.u16(58),
    shnum: r.u16(60),
  };
}

function* programHeaders(img: Image, h: Header): Generator<{ type: number; flags: number; offset: number; vaddr: number; filesz: number; memsz: number }> {
  if (h.phnum === 0) return;
  if (h.phentsize < 56) throw new ElfError(`program header entries of ${h.phentsize} bytes are too small`);
  const r = img.read(h.phoff, h.phnum * h.phentsize, 'program header table');
  for (let i = 0; i < h.phnum; i++) {
    const o = i * h.phentsize;
    yield { type: r.u32(o), flags: r.u32(o + 4), offset: r.u64(o + 8), vaddr: r.u64(o + 16), filesz: r.u64(o + 32), memsz: r.u64(o + 40) };
  }
}

function readLoads(img: Image, h: Header): ElfLoad[] {
  const loads: ElfLoad[] = [];
  for (const p of programHeaders(img, h)) {
    if (p.type === PT_LOAD) {
      loads.push({ offset: p.offset, vaddr: p.vaddr, filesz: p.filesz, memsz: p.memsz, executable: (p.flags & PF_X) !== 0 });
    }
  }
  return loads;
}

interface Section {
  type: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

function readSections(img: Image, h: Header): Section[] {
  if (h.shnum === 0 || h.shoff === 0) return [];
  if (h.shentsize < 64) throw new ElfError(`section header entries of ${h.shentsize} bytes are too small`);
  const r = img.read(h.shoff, h.shnum * h.shentsize, 'section header table');
  const out: Section[] = [];
  for (let i = 0; i < h.shnum; i++) {
    const o = i * h.shentsize;
    out.push({ type: r.u32(o + 4), offset: r.u64(o + 24), size: r.u64(o + 32), link: r.u32(o + 40), entsize: r.u64(o + 56) });
  }
  return out;
}

/** Rounds up to a multiple of 4 without 32-bit bitwise overflow on huge sizes. */
function align4(x: number): number {
  return x + ((4 - (x % 4)) % 4);
}

/** The GNU build-id in a run of ELF notes, as lowercase hex. */
function buildIdInNotes(img: Image, start: number, size: number): string | undefined {
  const r = img.read(start, size, 'note');
  let o = 0;
  while (o + 12 <= size) {
    const namesz = r.u32(o);
    const descsz = r.u32(o + 4);
    const type = r.u32(o + 8);
    const name = o + 12;
    const desc = name + align4(namesz);
    const next = desc + align4(descsz);
    if (next > size || next <= o) return undefined;
    if (type === NT_GNU_BUILD_ID && namesz === 4 && r.u32(name) === 0x00554e47 /* "GNU\0" */ && descsz > 0) {
      return r.buf.toString('hex', desc, desc + descsz);
    }
    o = next;
  }
  return undefined;
}

function buildIdFromSections(img: Image, sections: Section[]): string | undefined {
  for (const s of sections) {
    if (s.type !== SHT_NOTE) continue;
    const id = buildIdInNotes(img, s.offset, s.size);
    if (id !== undefined) return id;
  }
  return undefined;
}

function buildIdFromSegments(img: Image, h: Header): string | undefined {
  for (const p of programHeaders(img, h)) {
    if (p.type !== PT_NOTE) continue;
    const id = buildIdInNotes(img, p.offset, p.filesz);
    if (id !== undefined) return id;
  }
  return undefined;
}

function readSymbols(img: Image, s: Section, strtab: Section, out: SymbolBuilder): void {
  if (s.entsize !== 0 && s.entsize < 24) throw new ElfError(`symbol entries of ${s.entsize} bytes are too small`);
  const ent = s.entsize === 0 ? 24 : s.entsize;
  const r = img.read(s.offset, s.size, 'symbol table');
  const str = img.read(strtab.offset, strtab.size, 'string table');
  const count = Math.floor(s.size / ent);
  for (let i = 0; i < count; i++) {
    const o = i * ent;
    const info = r.u8(o + 4);
    const kind = info & 0xf;
    const shndx = r.u16(o + 6);
    const value = r.u64(o + 8);
    const size = r.u64(o + 16);
    if (shndx === SHN_UNDEF || value === 0) continue;
    // Functions and ifuncs always; untyped symbols only when sized (assembly entry points), not labels.
    if (kind !== STT_FUNC && kind !== STT_GNU_IFUNC && !(kind === STT_NOTYPE && size > 0)) continue;
    const nameOff = r.u32(o);
    if (nameOff >= strtab.size) continue;
    const name = str.cstr(nameOff, strtab.size);
    if (name === '') continue;
    // GLOBAL (1) names an alias better than WEAK (2) or LOCAL (0): prefer it on equal addresses.
    const bind = info >> 4;
    out.add(value, size, name, bind === 1 ? 0 : bind === 2 ? 1 : 2);
  }
}

class SymbolBuilder {
  private addrs: number[] = [];
  private sizes: number[] = [];
  private names: string[] = [];
  private ranks: number[] = [];
  add(addr: number, size: number, name: string, rank: number): void {
    this.addrs.push(addr);
    this.sizes.push(size);
    this.names.push(name);
    this.ranks.push(rank);
  }
  build(): { symbolCount: number; retainedBytes: number; lookup(vaddr: number): ElfSymbolHit | undefined } {
    const { addrs, sizes, names, ranks } = this;
    const order = Array.from({ length: addrs.length }, (_, i) => i);
    order.sort((a, b) => addrs[a]! - addrs[b]! || ranks[a]! - ranks[b]!);
    // One entry per address (.symtab and .dynsym repeat most functions).
    const keep = order.filter((j, i) => i === 0 || addrs[order[i - 1]!] !== addrs[j]);
    const n = keep.length;
    const start = new Float64Array(n);
    const end = new Float64Array(n);
    const name: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const j = keep[i]!;
      start[i] = addrs[j]!;
      name[i] = names[j]!;
      // Unsized functions (some assembly) extend to the next symbol.
      end[i] = sizes[j]! > 0 ? addrs[j]! + sizes[j]! : Infinity;
    }
    for (let i = 0; i < n - 1; i++) if (end[i] === Infinity) end[i] = start[i + 1]!;
    // The last one has no next symbol to end it: an unsized `_fini` must not claim every address
    // after it (code without symbols there, such as node's, shows as module+offset instead).
    if (n > 0 && end[n - 1] === Infinity) end[n - 1] = start[n - 1]! + 1;
    let nameBytes = 0;
    for (let i = 0; i < n; i++) nameBytes += name[i]!.length;
    return {
      symbolCount: n,
      // Two Float64Arrays, a pointer and a string header per name, and the names (one-byte strings).
      retainedBytes: 1024 + n * (8 + 8 + 8 + 16) + nameBytes,
      lookup(vaddr: number): ElfSymbolHit | undefined {
        let a = 0;
        let b = n - 1;
        let found = -1;
        while (a <= b) {
          const m = (a + b) >>> 1;
          if (start[m]! <= vaddr) {
            found = m;
            a = m + 1;
          } else {
            b = m - 1;
          }
        }
        if (found < 0 || vaddr >= end[found]!) return undefined;
        return { name: name[found]!, offset: vaddr - start[found]! };
      },
    };
  }
}

/** Files above this are refused rather than read: a 4 GiB debug binary must not blow the heap. */
export const MAX_ELF_BYTES = 512 * 1024 * 1024;
const HEAD_BYTES = 64 * 1024;
/** profile.cacheBytes' default. */
export const DEFAULT_ELF_CACHE_BYTES = 64 << 20;

/** An LRU on Map's insertion order, bounded by the symbol tables' retained bytes. */
class SymbolTableCache {
  private readonly map = new Map<string, ElfFile>();
  private bytes = 0;
  constructor(public budget: number) {}
  get size(): number { return this.bytes; }
  get(k: string): ElfFile | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: ElfFile): void {
    this.delete(k);
    this.map.set(k, v);
    this.bytes += v.retainedBytes;
    // The newest entry stays even alone over the budget: the profile being symbolized needs it.
    while (this.bytes > this.budget && this.map.size > 1) this.delete(this.map.keys().next().value!);
  }
  /** Back within the budget, the newest entry too: once a profile is symbolized, nothing needs it. */
  trim(budget = this.budget): void {
    while (this.bytes > budget && this.map.size > 0) this.delete(this.map.keys().next().value!);
  }
  private delete(k: string): void {
    const old = this.map.get(k);
    if (old === undefined) return;
    this.map.delete(k);
    this.bytes -= old.retainedBytes;
  }
}

/** Symbol tables per (dev, inode, mtime, size); build-ids point at those keys, so each table is counted once. */
const byInode = new SymbolTableCache(DEFAULT_ELF_CACHE_BYTES);
const byBuildId = new Map<string, string>();
const MAX_BUILD_IDS = 4096;

/** Sets the byte budget of the symbol-table cache (profile.cacheBytes). */
export function setElfCacheBytes(bytes: number): void {
  byInode.budget = bytes;
}

/** Drops what is over the budget (the one table allowed over it while a profile was symbolized). */
export function trimElfCache(): void {
  byInode.trim();
}

/** Drops every cached symbol table (no profile is being symbolized). */
export function clearElfCache(): void {
  byInode.trim(0);
  byBuildId.clear();
}

/** Bytes the symbol-table cache holds now (tests, self-metrics). */
export function elfCacheBytes(): number {
  return byInode.size;
}

/**
 * Reads and parses an ELF file, cached across calls per (dev, inode, mtime, size) and per (build-id,
 * size): the same binary under several container roots is parsed once. Only its headers, notes and
 * symbol tables are read. Throws ElfError on any failure.
 */
export async function loadElf(path: string): Promise<ElfFile> {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ElfError(`cannot stat ${path}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new ElfError(`${path} is not a regular file`);
  if (st.size > MAX_ELF_BYTES) throw new ElfError(`${path} is ${st.size} bytes, over the ${MAX_ELF_BYTES}-byte limit`);
  const key = `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
  const hit = byInode.get(key);
  if (hit !== undefined) return hit;
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (e) {
    throw new ElfError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const img = new SparseImage(file, st.size);
    await img.fetch(0, Math.min(HEAD_BYTES, st.size));
    const hdr = readHeader(img);
    await img.fetch(hdr.phoff, hdr.phnum * hdr.phentsize);
    // The build-id note sits in the first pages: check it before reading the symbols. The size is
    // part of the key because a stripped copy keeps the build-id but must not borrow the full symbols.
    const sameKey = await segmentsBuildId(img, hdr).then((id) => (id === undefined ? undefined : byBuildId.get(`${id}:${st.size}`)));
    const sameBuild = sameKey === undefined ? undefined : byInode.get(sameKey);
    if (sameBuild !== undefined) return sameBuild;
    await img.fetch(hdr.shoff, hdr.shnum * hdr.shentsize);
    const sections = readSections(img, hdr);
    const wanted = new Set(sections.filter((s) => s.type === SHT_NOTE || s.type === SHT_SYMTAB || s.type === SHT_DYNSYM));
    for (const s of [...wanted]) if (s.type !== SHT_NOTE && sections[s.link] !== undefined) wanted.add(sections[s.link]!);
    await Promise.all([...wanted].map((s) => img.fetch(s.offset, s.size)));
    const elf = parseImage(img);
    byInode.set(key, elf);
    if (elf.buildId !== undefined) {
      if (byBuildId.size >= MAX_BUILD_IDS) byBuildId.clear();
      byBuildId.set(`${elf.buildId}:${st.size}`, key);
    }
    return elf;
  } catch (e) {
    if (e instanceof ElfError) throw e;
    throw new ElfError(`cannot read ${path}: ${(e as Error).message}`);
  } finally {
    await file.close();
  }
}

/** The build-id in the PT_NOTE segments; undefined when there is none or they do not parse (the sections decide then). */
async function segmentsBuildId(img: SparseImage, hdr: Header): Promise<string | undefined> {
  try {
    for (const p of programHeaders(img, hdr)) if (p.type === PT_NOTE) await img.fetch(p.offset, p.filesz);
    return buildIdFromSegments(img, hdr);
  } catch {
    return undefined;
  }
}
