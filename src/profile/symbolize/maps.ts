// /proc/PID/maps: the executable mappings of a process, for turning a pc into (file, offset).

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  /** File offset of `start`. */
  offset: number;
  dev: string;
  inode: number;
  /** As the kernel prints it, without ` (deleted)`: a file, `[vdso]`, `[anon:name]`, or '' when anonymous. */
  path: string;
  /** The file was unlinked or replaced after it was mapped. */
  deleted: boolean;
}

const DELETED = ' (deleted)';

/** Executable mappings sorted by start; malformed lines are skipped, never thrown on. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = parseLine(line);
    if (m !== undefined && m.perms[2] === 'x') out.push(m);
  }
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return out;
}

const HEX = /^[0-9a-fA-F]{1,16}$/;

function parseLine(line: string): Mapping | undefined {
  // "start-end perms offset dev inode   path": the path may contain spaces, so split the first five fields only.
  const fields: string[] = [];
  let p = 0;
  while (fields.length < 5) {
    while (line[p] === ' ') p++;
    const sp = line.indexOf(' ', p);
    const end = sp < 0 ? line.length : sp;
    if (end === p) return undefined;
    fields.push(line.slice(p, end));
    p = end;
  }
  const [range, perms, offset, dev, inode] = fields as [string, string, string, string, string];
  const dash = range.indexOf('-');
  const lo = range.slice(0, dash);
  const hi = range.slice(dash + 1);
  if (dash < 0 || !HEX.test(lo) || !HEX.test(hi) || !HEX.test(offset) || perms.length !== 4 || !/^\d+$/.test(inode)) return undefined;
  const start = BigInt(`0x${lo}`);
  const end = BigInt(`0x${hi}`);
  if (end <= start) return undefined;
  let path = line.slice(p).trim();
  const deleted = path.endsWith(DELETED);
  if (deleted) path = path.slice(0, -DELETED.length);
  return { start, end, perms, offset: Number.parseInt(offset, 16), dev, inode: Number(inode), path, deleted };
}

/** The mapping containing `pc`, by binary search over `parseMaps` output. */
export function findMapping(maps: readonly Mapping[], pc: bigint): Mapping | undefined {
  let a = 0;
  let b = maps.length - 1;
  while (a <= b) {
    const m = (a + b) >>> 1;
    const map = maps[m]!;
    if (pc < map.start) b = m - 1;
    else if (pc >= map.end) a = m + 1;
    else return map;
  }
  return undefined;
}

/** The file offset `pc` corresponds to inside its mapping. */
export function fileOffset(map: Mapping, pc: bigint): number {
  return map.offset + Number(pc - map.start);
}

/** A file-backed mapping (not `[vdso]`, `[heap]`, `[anon:…]` or anonymous). */
export function isFileMapping(map: Mapping): boolean {
  return map.path.startsWith('/');
}
