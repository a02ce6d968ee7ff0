// The kernel matrix: Debian's cloud kernels (packages.tsv) booted under QEMU, each default sensor
// loaded by the real helper inside and checked for the exact records of a known workload
// (sensors.ts). One boot per kernel runs every sensor; a sensor that cannot load fails with the
// kernel, the sensor and the helper's first error line. Each run rewrites its kernel's row of
// results.json and renders it into docs/KERNELS.md's support table and BENCHMARKS.md's timings
// (scripts/gen-support.mjs). Run alone with `npm run test:kernels`.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperFrames } from '../support/helper-run.js';
import { checkStream, type SensorRun } from './case.js';
import { SENSOR_CASES } from './sensors.js';
import { CACHE, HERE, boot, buildFor, recordResult, type Boot, type Kernel } from './vm.js';

const KERNELS: readonly Kernel[] = [
  { id: '5.10', arch: 'x86_64' },
  { id: '6.1', arch: 'x86_64' },
  { id: '6.12', arch: 'x86_64' },
  { id: '6.1-arm64', arch: 'arm64' },
];

/** A sensor's cell in the support table: ok | fallback: <route> | unsupported: <why> | fail: <what>. */
interface Cell { status: string; route?: string }

/** The helper's first line that says what failed (libbpf's "Retrying" notes are not it), and the
 * verifier's verdict when it refused a program: the line before its "processed N insns". */
function firstError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.replace(/^bpfwasm-helper: (libbpf: )?/, '').trim()).filter(Boolean);
  const first = lines.find((l) => /fail|error|denied|invalid|not found/i.test(l) && !/Retrying/.test(l)) ?? lines[0] ?? '(no message)';
  const verdict = lines[lines.findIndex((l) => /^processed \d+ insns/.test(l)) - 1];
  return verdict ? `${first} (verifier: ${verdict})` : first;
}

for (const kernel of KERNELS) {
  describe(`kernel ${kernel.id} (${kernel.arch})`, () => {
    const out = join(CACHE, 'out', kernel.id);
    const sensors: Record<string, Cell> = {};
    let vm: Boot;

    beforeAll(async () => {
      const { helper, workload } = buildFor(kernel.arch);
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out, { recursive: true });
      const plan = join(CACHE, 'work', `plan-${kernel.id}`);
      writeFileSync(plan, SENSOR_CASES.map((c) => `${c.sensor}\t${c.workload}\n`).join(''));
      const guest = join(HERE, 'guest.sh');
      vm = await boot(kernel, ['--add', helper, '--add', workload, '--add', guest, '--add', plan, '--', `sh ${guest} ${helper} ${workload} ${plan}`], out);
    }, 420_000);

    afterAll(() => {
      if (vm?.release) recordResult(kernel.id, { release: vm.release, arch: kernel.arch, seconds: vm.seconds, initramfsSeconds: vm.initramfsSeconds, sensors });
    });

    it('boots and runs every sensor', () => {
      expect(vm.code, `kernel ${kernel.id}: the VM did not finish:\n${vm.console.slice(-2000)}`).toBe(0);
    });

    it('profile mode: loads, samples and loses nothing', () => {
      const file = (name: string) => (existsSync(join(out, name)) ? readFileSync(join(out, name)) : Buffer.alloc(0));
      const frames = new HelperFrames([]);
      frames.push(file('profile.frames'));
      frames.end();
      const stderr = file('profile.err').toString();
      expect(file('profile.rc').toString().trim(), `kernel ${kernel.id}, profile: ${firstError(stderr)}`).toBe('0');
      expect(frames.done.samples).toBeGreaterThan(0);
      expect(frames.done.stack_errors.lost).toBe(0);
      expect(frames.profile.stacks.size).toBeGreaterThan(0);
    });

    for (const c of SENSOR_CASES) {
      it(`${c.sensor}: loads and sees the workload exactly`, () => {
        const file = (name: string) => (existsSync(join(out, name)) ? readFileSync(join(out, name)) : Buffer.alloc(0));
        const frames = new HelperFrames([]);
        frames.push(file(`${c.sensor}.frames`));
        frames.end();
        const stderr = file(`${c.sensor}.err`).toString();
        const ready = frames.control.find((m) => m.kind === 'ready')?.message;
        const failed = (ready?.failed ?? []).find((f: { name: string }) => f.name === c.sensor);
        if (!ready || failed) {
          const why = failed ? `${failed.step}: ${failed.error}` : firstError(stderr);
          sensors[c.sensor] = { status: `unsupported: ${why}` };
          expect.fail(`kernel ${kernel.id}, sensor ${c.sensor}: ${why}`);
        }
        const route: string | undefined = ready.routes?.[c.sensor];
        const preferred: string | undefined = frames.control[0]?.message?.sensors?.[0]?.routes?.[0];
        const run: SensorRun = { frames, out: (name) => file(name).toString() };
        try {
          expect(file(`${c.sensor}.workload`).toString(), 'workload output').toMatch(/rc=0\n$/);
          c.check(run);
          checkStream(run);
          expect(file(`${c.sensor}.rc`).toString().trim(), `helper exit code (stderr: ${stderr})`).toBe('0');
        } catch (err) {
          sensors[c.sensor] = { status: `fail: ${(err as Error).message.split('\n')[0]}`, route };
          throw new Error(`kernel ${kernel.id}, sensor ${c.sensor}: ${(err as Error).message}`);
        }
        sensors[c.sensor] = { status: route && route !== preferred ? `fallback: ${route}` : 'ok', route };
      });
    }
  });
}
