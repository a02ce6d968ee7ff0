import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawProfile } from '../../../src/profile/model.js';
import { symbolize } from '../../../src/profile/symbolize/index.js';
import { type Built, build, nmAddr, run, type Running } from './programs.js';

let b: Built;
const running: Running[] = [];
beforeAll(() => {
  b = build();
});
afterAll(() => {
  for (const r of running) r.child.kill('SIGKILL');
  rmSync(b.dir, { recursive: true, force: true });
});

const filters = { kernel: true, user: true, idle: false };
const noErrors = { kernelMissing: 0, userMissing: 0, lost: 0, other: 0 };

function raw(r: Running, stacks: [number, bigint[]][], samples: Partial<RawProfile['samples'][number]>[], extra: Partial<RawProfile> = {}): RawProfile {
  return {
    hz: 99,
    seconds: 1,
    durationMs: 1000,
    ncpus: 2,
    samples: samples.map((s) => ({ tgid: r.pid, pid: r.pid, kernelStackId: -14, userStackId: 1, count: 1, comm: 'prog', ...s })),
    stacks: new Map(stacks),
    maps: new Map([[r.pid, r.maps]]),
    stackErrors: noErrors,
    ...extra,
  };
}

async function start(path: string): Promise<Running> {
  const r = await run(path);
  running.push(r);
  return r;
}

const userNames = async (r: Running, pcs: bigint[]) =>
  (await symbolize(raw(r, [[1, pcs]], [{}]), { id: 't', startedAt: 0, filters })).samples[0]!.frames.slice(1).map((f) => [f.name, f.kind, f.module]);

describe('symbolize', () => {
  it.each([['prog-pie'], ['prog-nopie']])('names runtime addresses in a running %s and its shared object', async (file) => {
    const r = await start(join(b.dir, file));
    // Leaf first, as the helper reports them.
    expect(await userNames(r, [r.leaf + 3n, r.middle + 4n, r.outer + 4n, r.libInner + 1n])).toEqual([
      ['lib_inner', 'user', 'libsym.so'],
      ['outer_fn', 'user', file],
      ['middle_fn', 'user', file],
      ['leaf_fn', 'user', file],
    ]);
  });

  it('looks up pc - 1 above the leaf so a call ending a function stays in it', async () => {
    const r = await start(b.pie);
    const size = BigInt(nmAddr(b.pie, 'middle_fn').size);
    const end = r.middle + size;
    const next = await userNames(r, [end]);
    expect(next[0]![0]).not.toBe('middle_fn');
    expect((await userNames(r, [r.leaf, end]))[0]![0]).toBe('middle_fn');
  });

  it('names a pc in a stripped file module+0xvaddr, and reads a deleted file through map_files', async () => {
    const r = await start(b.stripped);
    const vaddr = nmAddr(b.pie, 'leaf_fn').addr + 3;
    expect(await userNames(r, [r.leaf + 3n])).toEqual([[`prog-stripped+0x${vaddr.toString(16)}`, 'user', 'prog-stripped']]);
    const copy = join(b.dir, 'prog-deleted');
    copyFileSync(b.pie, copy);
    const d = await start(copy);
    unlinkSync(copy);
    d.maps = readFileSync(`/proc/${d.pid}/maps`, 'latin1');
    expect(d.maps).toContain('prog-deleted (deleted)');
    expect(await userNames(d, [d.outer + 1n])).toEqual([['outer_fn', 'user', 'prog-deleted']]);
  });

  it('builds root-first stacks, merges equal ones, and warns plainly', async () => {
    const r = await start(b.pie);
    const kallsyms = readFileSync('/proc/kallsyms', 'latin1');
    const kaddr = (name: string) => BigInt(`0x${new RegExp(`^([0-9a-f]+) [tT] ${name}$`, 'm').exec(kallsyms)![1]!}`);
    const p = await symbolize(
      raw(
        r,
        [
          [1, [r.leaf + 3n, r.middle + 4n, r.outer + 4n]],
          [2, [kaddr('do_syscall_64') + 0x10n, kaddr('entry_SYSCALL_64') + 1n]],
          [3, [0x10n]],
        ],
        [
          { kernelStackId: 2, count: 3 },
          { kernelStackId: 2, count: 4, pid: r.pid + 1 },
          { userStackId: 3, count: 2 },
        ],
        { stackErrors: { kernelMissing: 0, userMissing: 12, lost: 1, other: 0 } },
      ),
      { id: 'p1', startedAt: 5, filters },
    );
    expect(p).toMatchObject({ id: 'p1', startedAt: 5, hz: 99, seconds: 1, totalSamples: 9 });
    expect(p.samples.map((s) => [s.pid, s.count, s.frames.map((f) => `${f.kind}:${f.name}`)])).toEqual([
      [r.pid, 7, ['process:prog', 'user:outer_fn', 'user:middle_fn', 'user:leaf_fn', 'kernel:entry_SYSCALL_64', 'kernel:do_syscall_64']],
      [r.pid, 2, ['process:prog', 'user:[unknown]']],
    ]);
    expect(p.warnings).toEqual(['12 samples had no user stack', '1 sample was lost: the sample ring was full (the helper fell behind)']);
  });

  it('warns about missing frame pointers, zero kallsyms, and names JIT frames from a perf map', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-perfmap-'));
    try {
      const fakePid = 4_000_001;
      writeFileSync(join(dir, `perf-${fakePid}.map`), '7f0000001000 100 LazyCompile:*hot /app/x.js:1\n7f0000002000 40 Builtin:JSEntry\n');
      writeFileSync(join(dir, 'kallsyms'), '0000000000000000 T _stext\n0000000000000000 T do_syscall_64\n');
      const p = await symbolize(
        {
          hz: 99,
          seconds: 1,
          durationMs: 1000,
          ncpus: 2,
          samples: [{ tgid: fakePid, pid: fakePid, kernelStackId: 2, userStackId: 1, count: 20, comm: 'node' }],
          stacks: new Map([
            [1, [0x7f0000001010n]],
            [2, [0xffffffff81000010n]],
          ]),
          maps: new Map([[fakePid, '7f0000000000-7f0000100000 rwxp 00000000 00:00 0\n']]),
          stackErrors: noErrors,
        },
        { id: 'p2', startedAt: 0, filters, kallsymsPath: join(dir, 'kallsyms'), perfMapDir: dir },
      );
      expect(p.samples[0]!.frames).toEqual([
        { name: 'node', kind: 'process' },
        { name: 'LazyCompile:*hot /app/x.js:1', kind: 'jit', module: `perf-${fakePid}.map` },
        { name: '[kernel]', kind: 'kernel', module: '[kernel]' },
      ]);
      expect(p.warnings[0]).toMatch(/^kernel symbols unavailable: \/proc\/kallsyms shows zero addresses/);
      expect(p.warnings[1]).toMatch(/^100% of user stacks are a single frame deep: .*frame pointers/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
