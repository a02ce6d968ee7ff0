import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileOffset, findMapping, parseMaps } from '../../../src/profile/symbolize/maps.js';

const MAPS = `55d0c8a00000-55d0c8a01000 r--p 00000000 fd:01 1234   /usr/bin/my prog
55d0c8a01000-55d0c8a02000 r-xp 00001000 fd:01 1234   /usr/bin/my prog
7f1e2c000000-7f1e2c100000 rwxp 00000000 00:00 0
7f1e2d000000-7f1e2d200000 r-xp 00028000 fd:01 99     /usr/lib/libc.so.6 (deleted)
7ffd1b5f0000-7ffd1b5f2000 r-xp 00000000 00:00 0      [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
bad line here
`;

describe('maps parser', () => {
  it('keeps executable mappings with paths, deleted flags and specials', () => {
    const maps = parseMaps(MAPS);
    expect(maps.map((m) => [m.path, m.deleted])).toEqual([
      ['/usr/bin/my prog', false],
      ['', false],
      ['/usr/lib/libc.so.6', true],
      ['[vdso]', false],
      ['[vsyscall]', false],
    ]);
    const libc = findMapping(maps, 0x7f1e2d000010n)!;
    expect(libc.path).toBe('/usr/lib/libc.so.6');
    expect(fileOffset(libc, 0x7f1e2d000010n)).toBe(0x28010);
    expect(findMapping(maps, 0x55d0c8a00010n)).toBeUndefined();
    expect(findMapping(maps, 0xffffffffff600400n)?.path).toBe('[vsyscall]');
    expect(findMapping(maps, 0x7f1e2d200000n)).toBeUndefined();
  });

  it('never throws on arbitrary text', () => {
    const line = fc
      .tuple(fc.bigInt({ min: 0n, max: 2n ** 64n }), fc.bigInt({ min: 0n, max: 2n ** 64n }), fc.constantFrom('r-xp', 'rw-p', '--x', 'x'), fc.string())
      .map(([a, b, p, rest]) => `${a.toString(16)}-${b.toString(16)} ${p} 0000 00:00 0 ${rest}`);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), line)), fc.bigInt({ min: 0n, max: 2n ** 64n }), (lines, pc) => {
        const maps = parseMaps(lines.join('\n'));
        findMapping(maps, pc);
      }),
      { numRuns: 3000 },
    );
  });
});
