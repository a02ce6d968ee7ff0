// /proc/kallsyms: kernel text symbols, parsed once into sorted address arrays for binary search.
import { readLatin1 } from '../../big-buffer.js';

export interface KernelSymbol {
  name: string;
  /** `[kernel]` for the core image, else the module name as kallsyms writes it (`[ext4]`). */
  module: string;
}

export interface KernelSymbols {
  /** Number of text symbols kept. */
  readonly count: number;
  /** Every address read as zero: kptr_restrict or no CAP_SYSLOG hides them. */
  readonly zeroAddresses: boolean;
  /** The nearest text symbol at or below `addr`. */
  lookup(addr: bigint): KernelSymbol | undefined;
}

export const KERNEL_MODULE = '[kernel]';

/** Parses kallsyms text without a regex or a BigInt per line: 200k lines must stay cheap. */
export function parseKallsyms(text: string): KernelSymbols {
  let capacity = 1024;
  let hi = new Uint32Array(capacity);
  let lo = new Uint32Array(capacity);
  // Names stay in `text` as [start, end) offsets, sliced only on lookup: no 200k strings to allocate.
  let nameFrom = new Uint32Array(capacity);
  let nameTo = new Uint32Array(capacity);
  let moduleOf = new Uint16Array(capacity);
  const modules: string[] = [KERNEL_MODULE];
  const moduleIds = new Map<string, number>();
  let n = 0;
  let anyNonZero = false;
  let lines = 0;
  const len = text.length;
  let pos = 0;
  // The next tab in the text, advanced monotonically: a per-line indexOf would scan to the modules each time.
  let nextTab = -1;
  while (pos < len) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = len;
    const line = pos;
    pos = eol + 1;
    // Hex address, one space, a type letter, one space, then the name (and `\t[module]`).
    let p = line;
    let h = 0;
    let l = 0;
    let digits = 0;
    for (; p < eol; p++, digits++) {
      const c = text.charCodeAt(p);
      const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (v < 0) break;
      // Shift the 64-bit value left by 4 across the two 32-bit halves.
      h = ((h << 4) | (l >>> 28)) >>> 0;
      l = ((l << 4) | v) >>> 0;
    }
    if (digits === 0 || digits > 16 || p + 3 >= eol || text.charCodeAt(p) !== 32 || text.charCodeAt(p + 2) !== 32) continue;
    lines++;
    if (h !== 0 || l !== 0) anyNonZero = true;
    const type = text.charCodeAt(p + 1);
    // Only code: t/T (text) and w/W (weak, which is code in the text section for functions).
    if (type !== 116 && type !== 84 && type !== 119 && type !== 87) continue;
    const nameStart = p + 3;
    if (nextTab !== Infinity && nextTab < nameStart) {
      nextTab = text.indexOf('\t', nameStart);
      if (nextTab < 0) nextTab = Infinity;
    }
    let module = 0;
    let nameEnd = eol;
    if (nextTab < eol) {
      nameEnd = nextTab;
      const m = text.slice(nextTab + 1, eol).trim();
      module = moduleIds.get(m) ?? modules.length;
      if (module === modules.length && module < 0xffff) {
        moduleIds.set(m, module);
        modules.push(m);
      }
    }
    if (n === capacity) {
      capacity *= 2;
      hi = grown(hi, capacity);
      lo = grown(lo, capacity);
      nameFrom = grown(nameFrom, capacity);
      nameTo = grown(nameTo, capacity);
      moduleOf = grown(moduleOf, capacity);
    }
    hi[n] = h;
    lo[n] = l;
    nameFrom[n] = nameStart;
    nameTo[n] = nameEnd;
    moduleOf[n] = module;
    n++;
  }
  // Modules follow the core image and are not globally ordered: sort an index (stable: file order on ties).
  const order = new Array<number>(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    if (i > 0 && (hi[i - 1]! > hi[i]! || (hi[i - 1] === hi[i] && lo[i - 1]! > lo[i]!))) sorted = false;
  }
  if (!sorted) order.sort((a, b) => (hi[a]! - hi[b]!) || (lo[a]! - lo[b]!));
  const sHi = new Uint32Array(n);
  const sLo = new Uint32Array(n);
  const sFrom = new Uint32Array(n);
  const sTo = new Uint32Array(n);
  const sModule = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const j = order[i]!;
    sHi[i] = hi[j]!;
    sLo[i] = lo[j]!;
    sFrom[i] = nameFrom[j]!;
    sTo[i] = nameTo[j]!;
    sModule[i] = moduleOf[j]!;
  }
  const zeroAddresses = lines > 0 && !anyNonZero;
  return {
    count: n,
    zeroAddresses,
    lookup(addr: bigint): KernelSymbol | undefined {
      if (zeroAddresses || n === 0 || addr < 0n || addr > 0xffffffffffffffffn) return undefined;
      const h = Number(addr >> 32n);
      const l = Number(addr & 0xffffffffn);
      // Last index whose address is <= addr.
      let a = 0;
      let b = n - 1;
      let found = -1;
      while (a <= b) {
        const m = (a + b) >>> 1;
        const mh = sHi[m]!;
        if (mh < h || (mh === h && sLo[m]! <= l)) {
          found = m;
          a = m + 1;
        } else {
          b = m - 1;
        }
      }
      if (found < 0) return undefined;
      // Aliases share an address: the first in file order is the real function (e.g. before `_text`).
      while (found > 0 && sHi[found - 1] === sHi[found] && sLo[found - 1] === sLo[found]) found--;
      return { name: text.slice(sFrom[found]!, sTo[found]!), module: modules[sModule[found]!] ?? KERNEL_MODULE };
    },
  };
}

/** The warning for a profile whose kernel frames could not be named. */
export function kallsymsWarning(kptrRestrict: string | undefined): string {
  const setting = kptrRestrict === undefined ? '' : ` (kernel.kptr_restrict=${kptrRestrict})`;
  return `kernel symbols unavailable: /proc/kallsyms shows zero addresses${setting} or the collector lacks CAP_SYSLOG; kernel frames are shown as [kernel]`;
}

let cached: Promise<KernelSymbols> | undefined;

/** The running kernel's symbols, read once per collector process; an unreadable file gives an empty table. */
export function kernelSymbols(path = '/proc/kallsyms'): Promise<KernelSymbols> {
  if (path !== '/proc/kallsyms') return readLatin1(path).then(parseKallsyms);
  cached ??= readLatin1(path).then(parseKallsyms, () => parseKallsyms(''));
  return cached;
}

/** Forgets the running kernel's symbols; the next profile reads them again. */
export function forgetKernelSymbols(): void {
  cached = undefined;
}

/** A copy of `a` with room for `capacity` entries. */
function grown<T extends Uint32Array | Uint16Array>(a: T, capacity: number): T {
  const b = new (a.constructor as new (n: number) => T)(capacity);
  b.set(a);
  return b;
}
