// Syscall number → name for x86_64 (kind 1 of the exporter ABI's `resolve` import).
import { SYSCALLS_X86_64 } from './generated/syscalls-x86_64.js';

const BY_NUMBER: ReadonlyMap<number, string> = new Map(SYSCALLS_X86_64);
const BY_NAME: ReadonlyMap<string, number> = new Map(SYSCALLS_X86_64.map(([nr, name]) => [name, nr]));

/** The x86_64 syscall table: number → name without the `sys_`/`__NR_` prefix ("nanosleep"). */
export const SYSCALL_NAMES: ReadonlyMap<number, string> = BY_NUMBER;

/** "nanosleep" for 35; undefined for numbers the table lacks (x32 or ia32 numbers included). */
export function syscallName(nr: number): string | undefined {
  return BY_NUMBER.get(nr);
}

/** 35 for "nanosleep": lets config name syscalls instead of numbers. */
export function syscallNumber(name: string): number | undefined {
  return BY_NAME.get(name);
}
