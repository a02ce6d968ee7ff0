import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kernelSymbols, parseKallsyms } from '../../../src/profile/symbolize/kallsyms.js';

const real = readFileSync('/proc/kallsyms', 'latin1');
const line = /^([0-9a-f]+) T do_syscall_64$/m.exec(real);
const visible = line !== null && BigInt(`0x${line[1]!}`) !== 0n;

describe('kallsyms', () => {
  it.runIf(visible)('resolves do_syscall_64 in the real /proc/kallsyms, parsed well under 200 ms', async () => {
    const t0 = performance.now();
    const parsed = parseKallsyms(real);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(200);
    const addr = BigInt(`0x${line![1]!}`);
    const syms = await kernelSymbols();
    expect(syms.zeroAddresses).toBe(false);
    expect(syms.count).toBe(parsed.count);
    expect(syms.lookup(addr)).toEqual({ name: 'do_syscall_64', module: '[kernel]' });
    expect(syms.lookup(addr + 0x10n)?.name).toBe('do_syscall_64');
    expect(await kernelSymbols()).toBe(syms);
  });

  it('keeps module names, text symbols only, and sorts unordered input', () => {
    const k = parseKallsyms(
      [
        'ffffffffc0001000 t ext4_fn\t[ext4]',
        'ffffffff81000000 T _stext',
        'ffffffff81000100 D some_data',
        'ffffffff81000200 W weak_fn',
        'garbage line',
        'ffffffff81000000 T _text',
      ].join('\n'),
    );
    expect(k.count).toBe(4);
    expect(k.lookup(0xffffffffc0001010n)).toEqual({ name: 'ext4_fn', module: '[ext4]' });
    // The data symbol is not a function: its address falls in the preceding text symbol.
    expect(k.lookup(0xffffffff81000150n)).toEqual({ name: '_stext', module: '[kernel]' });
    expect(k.lookup(0xffffffff81000200n)?.name).toBe('weak_fn');
    expect(k.lookup(0xffffffff80000000n)).toBeUndefined();
  });

  it('detects all-zero addresses (kptr_restrict) without crashing', () => {
    const k = parseKallsyms('0000000000000000 T _stext\n0000000000000000 T do_syscall_64\n0000000000000000 t x\t[m]\n');
    expect(k.zeroAddresses).toBe(true);
    expect(k.lookup(0xffffffff81000000n)).toBeUndefined();
    expect(parseKallsyms('').zeroAddresses).toBe(false);
  });
});
