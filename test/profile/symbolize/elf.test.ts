import { readFileSync, rmSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElfError, ET_DYN, ET_EXEC, loadBias, loadElf, parseElf } from '../../../src/profile/symbolize/elf.js';
import { type Built, build, nm } from './programs.js';

let b: Built;
beforeAll(() => {
  b = build();
});
afterAll(() => {
  rmSync(b.dir, { recursive: true, force: true });
});

const FUNC_TYPES = new Set(['t', 'T', 'w', 'W', 'i']);

describe('elf reader', () => {
  it.each([
    ['PIE executable', () => b.pie, ET_DYN],
    ['non-PIE executable', () => b.nopie, ET_EXEC],
    ['shared object', () => b.lib, ET_DYN],
  ])('finds every sized function nm -S reports in the %s', async (_label, file, type) => {
    const path = file();
    const elf = await loadElf(path);
    expect(elf.type).toBe(type);
    expect(elf.buildId).toMatch(/^[0-9a-f]{40}$/);
    const funcs = nm(path).filter((s) => FUNC_TYPES.has(s.type) && s.size > 0);
    expect(funcs.map((s) => s.name)).toEqual(expect.arrayContaining(path === b.lib ? ['lib_inner', 'lib_entry'] : ['main', 'leaf_fn', 'middle_fn', 'outer_fn']));
    for (const s of funcs) {
      const aliases = funcs.filter((x) => x.addr === s.addr).map((x) => x.name);
      const start = elf.lookup(s.addr);
      expect(start?.offset, s.name).toBe(0);
      expect(aliases, s.name).toContain(start?.name);
      // The last byte is inside, the byte after is not (unless another function starts there).
      expect(elf.lookup(s.addr + s.size - 1)).toEqual({ name: start?.name, offset: s.size - 1 });
      if (!funcs.some((x) => x.addr === s.addr + s.size)) expect(elf.lookup(s.addr + s.size)?.name).not.toBe(start?.name);
    }
  });

  it('the last function symbol, if unsized (_fini), does not claim the addresses after it', async () => {
    const elf = await loadElf(b.pie);
    const last = nm(b.pie).filter((x) => FUNC_TYPES.has(x.type)).sort((x, y) => x.addr - y.addr).at(-1)!;
    expect(elf.lookup(last.addr)?.offset).toBe(0);
    expect(elf.lookup(last.addr + Math.max(last.size, 1) + 4096)).toBeUndefined();
  });

  it('a non-PIE executable has bias 0 where it was linked, and the right bias for a copy mapped elsewhere', async () => {
    const elf = await loadElf(b.nopie);
    const text = elf.loads.find((l) => l.executable)!;
    const mapOffset = text.offset - (text.offset % 4096);
    const linked = text.vaddr - (text.offset - mapOffset);
    expect(loadBias(elf, linked, mapOffset)).toBe(0);
    // node remaps its own text (still file-backed) to another address: symbols must follow.
    const copy = 0x7f0000000000;
    expect(loadBias(elf, copy, mapOffset)).toBe(copy - linked);
    const main = nm(b.nopie).find((x) => x.name === 'main')!;
    expect(elf.lookup(main.addr + copy - linked - loadBias(elf, copy, mapOffset)!)?.name).toBe('main');
  });

  it('falls back to .dynsym in a stripped file', async () => {
    const full = await loadElf(b.pie);
    const stripped = await loadElf(b.stripped);
    expect(stripped.buildId).toBe(full.buildId);
    expect(stripped.symbolCount).toBeLessThan(full.symbolCount);
    const leaf = nm(b.pie).find((s) => s.name === 'leaf_fn')!;
    expect(stripped.lookup(leaf.addr)?.name).not.toBe('leaf_fn');
    const lib = parseElf(readFileSync(b.lib));
    const dyn = nm(b.lib, true).find((s) => s.name === 'lib_entry')!;
    expect(lib.lookup(dyn.addr)?.name).toBe('lib_entry');
  });

  it('caches per inode', async () => {
    expect(await loadElf(b.pie)).toBe(await loadElf(b.pie));
  });

  it('rejects non-ELF input with ElfError', async () => {
    expect(() => parseElf(new Uint8Array(10))).toThrow(ElfError);
    expect(() => parseElf(Buffer.from('#!/bin/sh\n'.padEnd(100, ' ')))).toThrow(/bad magic/);
    await expect(loadElf('/nonexistent/file')).rejects.toThrow(ElfError);
    await expect(loadElf('/proc/self')).rejects.toThrow(ElfError);
  });

  it('never throws anything but ElfError on arbitrary bytes', () => {
    const check = (bytes: Uint8Array) => {
      try {
        parseElf(bytes);
      } catch (e) {
        if (!(e instanceof ElfError)) throw e;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), check), { numRuns: 2000 });
    // Random bytes rarely pass the magic: corrupt a real file so the deep paths are reached too.
    const real = readFileSync(b.lib);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 20 }), fc.nat(real.length), (edits, cut) => {
        const bytes = Uint8Array.from(real.subarray(0, Math.max(cut, 64)));
        for (const [at, v] of edits) if (at < bytes.length) bytes[at] = v;
        check(bytes);
      }),
      { numRuns: 2000 },
    );
  });
});
