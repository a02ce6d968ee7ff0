// Shared by the kernel matrix's tests: building for a VM's arch, booting it, and results.json.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EBPF_DIR, buildHelper } from '../support/helper-run.js';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..', '..');
export const CACHE = resolve(process.env.BPFWASM_KERNEL_CACHE ?? join(ROOT, '.cache', 'kernels'));
const RESULTS = join(HERE, 'results.json');

export interface Kernel { id: string; arch: 'x86_64' | 'arm64' }

/** Builds the helper and the workload (workload.c, static) for `arch`; returns their paths. */
export function buildFor(arch: Kernel['arch']): { helper: string; workload: string } {
  const cross = arch === 'arm64';
  if (cross) execFileSync('make', ['-s', '-C', EBPF_DIR, 'ARCH=arm64'], { stdio: ['ignore', 'ignore', 'pipe'] });
  else buildHelper();
  const dir = join(CACHE, 'work', arch);
  mkdirSync(dir, { recursive: true });
  const workload = join(dir, 'bwload');
  execFileSync(cross ? 'aarch64-linux-gnu-gcc' : 'gcc', ['-O2', '-static', '-o', workload, join(HERE, 'workload.c')]);
  return { helper: join(EBPF_DIR, 'build', ...(cross ? ['arm64'] : []), 'bpfwasm-helper'), workload };
}

/** seconds: from vmrun.sh's start to its end; initramfsSeconds: of which building the initramfs. */
export interface Boot { code: number | null; console: string; seconds: number; initramfsSeconds: number; release: string }

/** Boots `kernel` with vmrun.sh `args` (--add ... -- CMD); /out lands in `out`. */
export function boot(kernel: Kernel, args: string[], out: string, mem = 1024): Promise<Boot> {
  const started = performance.now();
  return new Promise((res) => {
    const vm = spawn(join(HERE, 'vmrun.sh'), ['--kernel', kernel.id, '--out', out, '--mem', String(mem), '--timeout', '400', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BPFWASM_KERNEL_CACHE: CACHE } });
    let console = '';
    vm.stdout.on('data', (d: Buffer) => { console += d.toString('latin1'); });
    vm.stderr.on('data', (d: Buffer) => { console += d.toString('latin1'); });
    vm.on('close', (code) => res({
      code, console, seconds: Math.round((performance.now() - started) / 100) / 10,
      initramfsSeconds: Number(/vmrun: initramfs of \d+ MiB built in (\d+) s/.exec(console)?.[1] ?? NaN),
      release: /vmrun: kernel (\S+)/.exec(console)?.[1] ?? '',
    }));
  });
}

/** Merges `fields` into kernel `id`'s entry of results.json and re-renders docs/KERNELS.md's support
 * table and BENCHMARKS.md's timings from it, so the tree stays in step (gen:check) after a run. */
export function recordResult(id: string, fields: Record<string, unknown>): void {
  const all = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) : {};
  all[id] = { ...all[id], ...fields };
  writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'gen-support.mjs')], { stdio: ['ignore', 'ignore', 'pipe'] });
}
