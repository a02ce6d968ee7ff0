// RawProfile → Profile: names every sampled pc (kallsyms, ELF symbols, JIT perf maps) and merges equal stacks.
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Frame, Profile, ProfileFilters, RawProfile, StackSample } from '../model.js';
import { clearDemangled, demangle } from './demangle.js';
import { clearElfCache, type ElfFile, loadBias, loadElf, parseElf, trimElfCache } from './elf.js';
import { forgetKernelSymbols, KERNEL_MODULE, type KernelSymbols, kallsymsWarning, kernelSymbols } from './kallsyms.js';
import { type Mapping, fileOffset, findMapping, isFileMapping, parseMaps } from './maps.js';
import { type PerfMap, readPerfMap } from './perfmap.js';

export { ElfError, loadElf, parseElf } from './elf.js';
export { kernelSymbols, parseKallsyms } from './kallsyms.js';
export { findMapping, parseMaps } from './maps.js';
export { parsePerfMap, readPerfMap } from './perfmap.js';

export interface SymbolizeOptions {
  id: string;
  startedAt: number;
  filters: ProfileFilters;
  /** Where kallsyms is read from (tests); the real file is read once per collector process. */
  kallsymsPath?: string;
  /** Where perf-PID.map files are looked for (tests). */
  perfMapDir?: string;
}

/** Share of user-stack samples at one frame deep above which the stacks are called unwound-less. */
const SHALLOW_SHARE = 0.9;
/** Too few samples say nothing about frame pointers. */
const SHALLOW_MIN_SAMPLES = 10;

/**
 * How long the symbol tables, kernel symbols and demangled names stay after the last profile was
 * symbolized: profiles taken one after another (a diff) reuse them, and an idle collector holds none.
 */
export const SYMBOL_CACHE_IDLE_MS = 10_000;
let symbolizing = 0;
let releaseTimer: NodeJS.Timeout | undefined;

/** Drops every symbol cache now (SYMBOL_CACHE_IDLE_MS after the last profile, or at once in tests). */
export function releaseSymbolCaches(): void {
  clearTimeout(releaseTimer);
  clearElfCache();
  forgetKernelSymbols();
  clearDemangled();
  collectGarbage();
}

let gc: (() => void) | undefined;

/**
 * A full, compacting garbage collection now, so what a profile used goes back to the OS at once:
 * an idle collector allocates too little for V8 to collect its old generation for minutes, and
 * without compaction the few objects that outlive a profile (its result, caches) keep the old
 * generation's pages, 10-20 MiB of RSS here (issue #17). `gc` is V8's own, exposed only to the
 * context made while the flag is set (as Jest does).
 */
function collectGarbage(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
  }
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

export async function symbolize(raw: RawProfile, opts: SymbolizeOptions): Promise<Profile> {
  symbolizing++;
  clearTimeout(releaseTimer);
  try {
    return await symbolizeNow(raw, opts);
  } finally {
    // A table over the budget was kept only for this profile's lookups, which are done.
    trimElfCache();
    if (--symbolizing === 0) releaseTimer = setTimeout(releaseSymbolCaches, SYMBOL_CACHE_IDLE_MS).unref();
  }
}

async function symbolizeNow(raw: RawProfile, opts: SymbolizeOptions): Promise<Profile> {
  const warnings: string[] = [];
  const wantsKernel = raw.samples.some((s) => s.kernelStackId >= 0 && raw.stacks.has(s.kernelStackId));
  const ksyms = wantsKernel ? await kernelSymbols(opts.kallsymsPath) : undefined;
  if (ksyms?.zeroAddresses) warnings.push(kallsymsWarning(await readTrimmed('/proc/sys/kernel/kptr_restrict')));
  else if (ksyms !== undefined && ksyms.count === 0) {
    warnings.push('kernel symbols unavailable: /proc/kallsyms could not be read; kernel frames are shown as [kernel]');
  }

  const processes = new Map<number, ProcessSymbols>();
  const userStacks = new Map<string, Frame[]>();
  const kernelStacks = new Map<number, Frame[]>();
  const merged = new Map<string, StackSample>();
  const detached = new DetachedFrames();
  let total = 0;
  let userSamples = 0;
  let shallowSamples = 0;

  for (const s of raw.samples) {
    total += s.count;
    const userIps = s.userStackId >= 0 ? raw.stacks.get(s.userStackId) : undefined;
    let user: Frame[] = [];
    if (userIps !== undefined && userIps.length > 0) {
      userSamples += s.count;
      if (userIps.length <= 1) shallowSamples += s.count;
      // Stack ids are shared between processes with equal addresses, so the key includes the tgid.
      const key = `${s.tgid}:${s.userStackId}`;
      let frames = userStacks.get(key);
      if (frames === undefined) {
        let proc = processes.get(s.tgid);
        if (proc === undefined) {
          proc = new ProcessSymbols(s.tgid, await processMaps(raw, s.tgid), opts.perfMapDir);
          processes.set(s.tgid, proc);
        }
        frames = await resolveStack(userIps, (pc) => proc.frame(pc), detached);
        userStacks.set(key, frames);
      }
      user = frames;
    }
    const kernelIps = s.kernelStackId >= 0 ? raw.stacks.get(s.kernelStackId) : undefined;
    let kernel: Frame[] = [];
    if (kernelIps !== undefined && ksyms !== undefined) {
      let frames = kernelStacks.get(s.kernelStackId);
      if (frames === undefined) {
        frames = await resolveStack(kernelIps, (pc) => kernelFrame(ksyms, pc), detached);
        kernelStacks.set(s.kernelStackId, frames);
      }
      kernel = frames;
    }
    const frames: Frame[] = [{ name: s.comm === '' ? `[${s.tgid}]` : s.comm, kind: 'process' }, ...user, ...kernel];
    // StackSample.pid is the tgid (the process the user asked about), so a process' threads merge.
    const key = `${s.tgid}\0${frames.map((f) => `${f.kind}\u0001${f.module ?? ''}\u0001${f.name}`).join('\0')}`;
    const prev = merged.get(key);
    if (prev !== undefined) prev.count += s.count;
    else merged.set(key, { pid: s.tgid, comm: s.comm, frames, count: s.count });
  }

  if (userSamples >= SHALLOW_MIN_SAMPLES && shallowSamples / userSamples >= SHALLOW_SHARE) {
    warnings.push(
      `${Math.round((100 * shallowSamples) / userSamples)}% of user stacks are a single frame deep: the sampled programs ` +
        'were most likely built without frame pointers (-fno-omit-frame-pointer), so their callers are missing',
    );
  }
  if (raw.stoppedEarly) warnings.push(`sampling was stopped early, after ${(raw.durationMs / 1000).toFixed(1)} s of ${raw.seconds} s`);
  const e = raw.stackErrors;
  if (e.userMissing > 0) warnings.push(`${samples(e.userMissing)} no user stack`);
  // No kernel stack is the normal case for a sample taken in user mode: not worth a warning.
  if (e.lost > 0) warnings.push(`${e.lost === 1 ? '1 sample was' : `${e.lost} samples were`} lost: the sample ring was full (the helper fell behind)`);
  if (e.other > 0) warnings.push(`${samples(e.other)} other stack errors`);

  return {
    id: opts.id,
    startedAt: opts.startedAt,
    hz: raw.hz,
    seconds: raw.seconds,
    filters: opts.filters,
    samples: [...merged.values()],
    totalSamples: total,
    stackErrors: raw.stackErrors,
    warnings,
  };
}

function samples(n: number): string {
  return n === 1 ? '1 sample had' : `${n} samples had`;
}

/** Leaf-first pcs → root-first frames. Above the leaf a pc is a return address: pc - 1 is the call. */
async function resolveStack(ips: bigint[], frame: (pc: bigint) => Frame | Promise<Frame>, detached: DetachedFrames): Promise<Frame[]> {
  const out: Frame[] = new Array<Frame>(ips.length);
  for (let i = 0; i < ips.length; i++) {
    const pc = ips[i]!;
    out[ips.length - 1 - i] = detached.frame(await frame(i === 0 || pc === 0n ? pc : pc - 1n));
  }
  return out;
}

/**
 * Frames whose strings are their own. Profiles outlive the texts they were named from (kallsyms,
 * 5 MB; /proc/PID/maps; perf maps) in the ProfileStore, and a V8 substring keeps its whole parent
 * alive: each distinct name and module is copied once per profile, so only the names stay.
 */
class DetachedFrames {
  private readonly frames = new Map<Frame, Frame>();
  private readonly strings = new Map<string, string>();

  frame(f: Frame): Frame {
    let copy = this.frames.get(f);
    if (copy === undefined) {
      copy = { name: this.string(f.name), kind: f.kind, ...(f.module !== undefined && { module: this.string(f.module) }) };
      this.frames.set(f, copy);
    }
    return copy;
  }

  private string(s: string): string {
    let copy = this.strings.get(s);
    // structuredClone makes a new flat string: it never shares the original's characters.
    if (copy === undefined) this.strings.set(s, (copy = structuredClone(s)));
    return copy;
  }
}

function kernelFrame(ksyms: KernelSymbols, pc: bigint): Frame {
  const hit = ksyms.lookup(pc);
  if (hit !== undefined) return { name: hit.name, kind: 'kernel', module: hit.module };
  const name = ksyms.zeroAddresses || ksyms.count === 0 ? KERNEL_MODULE : `${KERNEL_MODULE} 0x${pc.toString(16)}`;
  return { name, kind: 'kernel', module: KERNEL_MODULE };
}

async function processMaps(raw: RawProfile, tgid: number): Promise<Mapping[]> {
  // Captured while sampling; a process not captured may still be alive now.
  const text = raw.maps.get(tgid) ?? (await readFile(`/proc/${tgid}/maps`, 'latin1').catch(() => ''));
  return parseMaps(text);
}

/** One process' pc → frame resolution for one profile, memoised per pc and per mapped file. */
class ProcessSymbols {
  private readonly frames = new Map<bigint, Frame>();
  private readonly files = new Map<string, Promise<ElfFile | undefined>>();
  private perfMap: Promise<PerfMap | undefined> | undefined;
  private readonly perfModule: string;

  constructor(
    private readonly tgid: number,
    private readonly maps: Mapping[],
    private readonly perfMapDir: string | undefined,
  ) {
    this.perfModule = `perf-${tgid}.map`;
  }

  async frame(pc: bigint): Promise<Frame> {
    let f = this.frames.get(pc);
    if (f === undefined) {
      f = await this.resolve(pc);
      this.frames.set(pc, f);
    }
    return f;
  }

  private async resolve(pc: bigint): Promise<Frame> {
    const map = findMapping(this.maps, pc);
    if (map !== undefined && isFileMapping(map)) {
      const module = basename(map.path);
      const elf = await this.elf(map);
      return elfFrame(elf, map, pc, module) ?? { name: `${module}+0x${fileOffset(map, pc).toString(16)}`, kind: 'user', module };
    }
    // Anonymous memory, or code the JIT mapped after the maps were captured.
    this.perfMap ??= readPerfMap(this.tgid, this.perfMapDir);
    const jit = (await this.perfMap)?.lookup(pc);
    if (jit !== undefined) return { name: jit, kind: 'jit', module: this.perfModule };
    if (map === undefined) return { name: '[unknown]', kind: 'user' };
    if (map.path === '[vdso]') {
      const vdso = elfFrame(await ownVdso(), map, pc, '[vdso]');
      if (vdso !== undefined) return vdso;
    }
    const module = map.path === '' ? '[anon]' : map.path;
    return { name: `${module}+0x${(pc - map.start).toString(16)}`, kind: 'user', module };
  }

  /** The mapped file, opened where this process sees it; undefined when no candidate parses. */
  private elf(map: Mapping): Promise<ElfFile | undefined> {
    const key = `${map.path}\0${map.deleted}`;
    let p = this.files.get(key);
    if (p === undefined) {
      const candidates: string[] = [];
      // A deleted file stays readable through map_files while the process lives.
      if (map.deleted) candidates.push(`/proc/${this.tgid}/map_files/${map.start.toString(16)}-${map.end.toString(16)}`);
      candidates.push(`/proc/${this.tgid}/root${map.path}`);
      // After exit only the host path is left; a deleted path may now hold a different file.
      if (!map.deleted) candidates.push(map.path);
      p = firstElf(candidates);
      this.files.set(key, p);
    }
    return p;
  }
}

async function firstElf(paths: string[]): Promise<ElfFile | undefined> {
  for (const path of paths) {
    try {
      return await loadElf(path);
    } catch {
      // Gone, unreadable or not ELF: the next candidate, then module+offset.
    }
  }
  return undefined;
}

/** Name from the ELF's symbols, else module+0xvaddr (the address tools like addr2line take). */
function elfFrame(elf: ElfFile | undefined, map: Mapping, pc: bigint, module: string): Frame | undefined {
  if (elf === undefined) return undefined;
  const bias = loadBias(elf, Number(map.start), map.offset);
  if (bias === undefined) return undefined;
  const vaddr = Number(pc) - bias;
  const hit = elf.lookup(vaddr);
  return { name: hit ? demangle(hit.name) : `${module}+0x${vaddr.toString(16)}`, kind: 'user', module };
}

let vdso: Promise<ElfFile | undefined> | undefined;

/** Every 64-bit process of this kernel maps the same vDSO image, so read the collector's own. */
function ownVdso(): Promise<ElfFile | undefined> {
  vdso ??= readFile('/proc/self/maps', 'latin1').then(
    (text) => {
      const map = parseMaps(text).find((m) => m.path === '[vdso]');
      if (map === undefined) return undefined;
      const bytes = Buffer.alloc(Number(map.end - map.start));
      const fd = openSync('/proc/self/mem', 'r');
      try {
        readSync(fd, bytes, 0, bytes.length, Number(map.start));
      } finally {
        closeSync(fd);
      }
      return parseElf(bytes);
    },
  ).catch(() => undefined);
  return vdso;
}

async function readTrimmed(path: string): Promise<string | undefined> {
  return readFile(path, 'latin1').then((t) => t.trim(), () => undefined);
}
