// Builds and runs small C programs for the symbolizer tests: PIE, non-PIE, a shared object, a stripped copy.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LIB_C = `
__attribute__((noinline)) static int lib_inner(int x) { return x * 7 + 1; }
__attribute__((noinline)) int lib_entry(int x) { return lib_inner(x) + 2; }
void *lib_where(void) { return (void *)&lib_inner; }
`;

const PROG_C = `
#include <stdio.h>
#include <unistd.h>
void *lib_where(void);
int lib_entry(int);
volatile int sink;
__attribute__((noinline)) int leaf_fn(int x) { for (int i = 0; i < x; i++) sink += i; return sink; }
__attribute__((noinline)) int middle_fn(int x) { return leaf_fn(x) + 1; }
__attribute__((noinline)) int outer_fn(int x) { return middle_fn(x) * 2; }
int main(int argc, char **argv) {
  sink = outer_fn(argc) + lib_entry(argc);
  printf("%d %p %p %p %p\\n", getpid(), (void *)&leaf_fn, (void *)&middle_fn, (void *)&outer_fn, lib_where());
  fflush(stdout);
  if (argc > 1) sleep(60);
  return 0;
}
`;

export interface Built {
  dir: string;
  pie: string;
  nopie: string;
  lib: string;
  stripped: string;
}

export function build(): Built {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-sym-'));
  writeFileSync(join(dir, 'lib.c'), LIB_C);
  writeFileSync(join(dir, 'prog.c'), PROG_C);
  const cc = (args: string[]) => execFileSync('cc', ['-O1', '-fno-omit-frame-pointer', '-g0', ...args], { cwd: dir });
  cc(['-shared', '-fPIC', '-o', 'libsym.so', 'lib.c']);
  const link = ['prog.c', '-L.', '-lsym', `-Wl,-rpath,${dir}`];
  cc(['-fPIE', '-pie', '-o', 'prog-pie', ...link]);
  cc(['-fno-pie', '-no-pie', '-o', 'prog-nopie', ...link]);
  copyFileSync(join(dir, 'prog-pie'), join(dir, 'prog-stripped'));
  execFileSync('strip', [join(dir, 'prog-stripped')]);
  return { dir, pie: join(dir, 'prog-pie'), nopie: join(dir, 'prog-nopie'), lib: join(dir, 'libsym.so'), stripped: join(dir, 'prog-stripped') };
}

export interface NmSymbol {
  addr: number;
  size: number;
  type: string;
  name: string;
}

/** `nm -S --defined-only` of a file: what our reader must agree with. */
export function nm(path: string, dynamic = false): NmSymbol[] {
  const out = execFileSync('nm', ['-S', '--defined-only', ...(dynamic ? ['-D'] : []), path], { encoding: 'utf8' });
  const syms: NmSymbol[] = [];
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 4) continue;
    syms.push({ addr: Number.parseInt(f[0]!, 16), size: Number.parseInt(f[1]!, 16), type: f[2]!, name: f[3]! });
  }
  return syms;
}

export function nmAddr(path: string, name: string): NmSymbol {
  const s = nm(path).find((x) => x.name === name);
  if (s === undefined) throw new Error(`nm: no ${name} in ${path}`);
  return s;
}

export interface Running {
  child: ChildProcess;
  pid: number;
  leaf: bigint;
  middle: bigint;
  outer: bigint;
  libInner: bigint;
  maps: string;
}

/** Starts a program that prints its pid and function addresses, then sleeps until killed. */
export async function run(path: string): Promise<Running> {
  const child = spawn(path, ['sleep'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${path} exited ${code}`)));
  });
  const [pid, leaf, middle, outer, libInner] = line.split(' ') as [string, string, string, string, string];
  return {
    child,
    pid: Number(pid),
    leaf: BigInt(leaf),
    middle: BigInt(middle),
    outer: BigInt(outer),
    libInner: BigInt(libInner),
    maps: readFileSync(`/proc/${pid}/maps`, 'latin1'),
  };
}
