// /tmp/perf-PID.map, written by JIT runtimes (node --perf-basic-prof): "START SIZE name" in hex.
import { readFile } from 'node:fs/promises';

export interface PerfMap {
  readonly count: number;
  /** The JIT symbol covering `pc`. */
  lookup(pc: bigint): string | undefined;
}

/** Parses the map; a trailing line without its newline is still being written and is skipped. */
export function parsePerfMap(text: string): PerfMap {
  const starts: number[] = [];
  const sizes: number[] = [];
  const names: string[] = [];
  let pos = 0;
  for (;;) {
    const eol = text.indexOf('\n', pos);
    if (eol < 0) break;
    const line = pos;
    pos = eol + 1;
    const sp1 = text.indexOf(' ', line);
    if (sp1 < 0 || sp1 >= eol) continue;
    const sp2 = text.indexOf(' ', sp1 + 1);
    if (sp2 < 0 || sp2 >= eol) continue;
    const start = hex(text, line, sp1);
    const size = hex(text, sp1 + 1, sp2);
    if (start < 0 || size <= 0) continue;
    starts.push(start);
    sizes.push(size);
    names.push(text.slice(sp2 + 1, eol).trimEnd());
  }
  // Sort by start; on equal starts keep file order so the later (newer) entry wins below.
  const order = Array.from({ length: starts.length }, (_, i) => i);
  order.sort((a, b) => starts[a]! - starts[b]! || a - b);
  const n = order.length;
  const s = new Float64Array(n);
  const e = new Float64Array(n);
  const line = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const j = order[i]!;
    s[i] = starts[j]!;
    e[i] = starts[j]! + sizes[j]!;
    line[i] = j;
  }
  return {
    count: n,
    lookup(pc: bigint): string | undefined {
      if (pc > 0x1fffffffffffffn) return undefined;
      const x = Number(pc);
      let a = 0;
      let b = n - 1;
      let found = -1;
      while (a <= b) {
        const m = (a + b) >>> 1;
        if (s[m]! <= x) {
          found = m;
          a = m + 1;
        } else {
          b = m - 1;
        }
      }
      // The JIT reuses freed code space, so entries overlap: the newest line covering pc is right.
      // Looking back a few entries covers the overlaps seen in practice without a quadratic worst case.
      let best = -1;
      for (let i = found; i >= 0 && i > found - 16; i--) {
        if (x < e[i]! && (best < 0 || line[i]! > line[best]!)) best = i;
      }
      return best < 0 ? undefined : names[line[best]!];
    },
  };
}

/** Hex in text[from, to), optional 0x; -1 when not hex or beyond 2^53. */
function hex(text: string, from: number, to: number): number {
  if (to - from > 2 && text.charCodeAt(from) === 48 && (text.charCodeAt(from + 1) | 32) === 120) from += 2;
  if (to <= from || to - from > 13) return -1;
  let v = 0;
  for (let p = from; p < to; p++) {
    const c = text.charCodeAt(p) | 32;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/**
 * Reads the perf map of host pid `pid`. A containerised runtime writes it under its own root with
 * its namespace pid, so try /proc/PID/root/tmp/perf-NSPID.map first, then /tmp/perf-PID.map.
 */
export async function readPerfMap(pid: number, tmpDir = '/tmp'): Promise<PerfMap | undefined> {
  const candidates: string[] = [];
  const nspid = await namespacePid(pid);
  if (nspid !== undefined) candidates.push(`/proc/${pid}/root${tmpDir}/perf-${nspid}.map`);
  candidates.push(`${tmpDir}/perf-${pid}.map`);
  for (const path of candidates) {
    try {
      return parsePerfMap(await readFile(path, 'utf8'));
    } catch {
      // Not there: try the next place.
    }
  }
  return undefined;
}

/** The innermost pid from /proc/PID/status NSpid, when the process still exists. */
async function namespacePid(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'latin1');
    const line = /^NSpid:\s*(.*)$/m.exec(status);
    const last = line?.[1]?.trim().split(/\s+/).pop();
    return last === undefined ? undefined : Number(last);
  } catch {
    return undefined;
  }
}
