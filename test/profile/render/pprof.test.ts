import { gunzipSync } from 'node:zlib';
import { Profile as Pprof } from 'pprof-format';
import { describe, expect, test } from 'vitest';
import { periodNanos, renderPprof } from '../../../src/profile/render/pprof.js';
import { bigProfile, proc, profile, small, user } from './fixtures.js';

function decode(buf: Buffer): Pprof {
  expect(buf.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip magic
  return Pprof.decode(gunzipSync(buf));
}

/** Each sample as its stack (root first, names) and values, via the decoded tables. */
function stacks(p: Pprof): { stack: string[]; values: number[]; pid: number }[] {
  const s = p.stringTable.strings;
  const fns = new Map(p.function.map((f) => [Number(f.id), s[Number(f.name)]!]));
  const locs = new Map(p.location.map((l) => [Number(l.id), l]));
  return p.sample.map((x) => ({
    stack: x.locationId.map((id) => fns.get(Number(locs.get(Number(id))!.line[0]!.functionId))!).reverse(),
    values: x.value.map(Number),
    pid: Number(x.label.find((l) => s[Number(l.key)] === 'pid')!.num),
  }));
}

describe('pprof', () => {
  const p = decode(renderPprof(small));
  const s = p.stringTable.strings;

  test('header: sample types, period, time and duration', () => {
    expect(s[0]).toBe('');
    expect(p.sampleType.map((t) => [s[Number(t.type)], s[Number(t.unit)]])).toEqual([
      ['samples', 'count'],
      ['cpu', 'nanoseconds'],
    ]);
    expect([s[Number(p.periodType!.type)], s[Number(p.periodType!.unit)]]).toEqual(['cpu', 'nanoseconds']);
    expect(Number(p.period)).toBe(10101010);
    expect(periodNanos(99)).toBe(10101010);
    expect(BigInt(p.timeNanos)).toBe(BigInt(small.startedAt) * 1_000_000n);
    expect(Number(p.durationNanos)).toBe(10e9);
    expect(s[Number(p.defaultSampleType)]).toBe('cpu');
  });

  test('samples: leaf-first locations resolving to the right functions, count and cpu values', () => {
    expect(stacks(p)).toEqual([
      { stack: ['app', 'main', 'work'], values: [5, 5 * 10101010], pid: 10 },
      { stack: ['app', 'main', 'do_syscall_64'], values: [3, 3 * 10101010], pid: 10 },
      { stack: ['app', 'main', 'work'], values: [2, 2 * 10101010], pid: 11 },
      { stack: ['node', 'LazyCompile:*handler a.js:1'], values: [1, 10101010], pid: 20 },
    ]);
  });

  test('ids: non-zero, unique, one location per distinct frame, one mapping per module', () => {
    const ids = (xs: { id: unknown }[]) => xs.map((x) => Number(x.id));
    for (const table of [p.location, p.function, p.mapping]) {
      expect(ids(table).every((id) => id > 0)).toBe(true);
      expect(new Set(ids(table)).size).toBe(table.length);
    }
    expect(p.location).toHaveLength(6); // app, main, work, do_syscall_64, node, the JIT frame
    expect(p.mapping.map((m) => s[Number(m.filename)])).toEqual(['/usr/bin/app', '[kernel]', '/tmp/perf-20.map']);
    const mappingIds = new Set(ids(p.mapping));
    const fnIds = new Set(ids(p.function));
    for (const l of p.location) {
      const m = Number(l.mappingId);
      expect(m === 0 || mappingIds.has(m)).toBe(true); // 0: the process frame has no module
      expect(fnIds.has(Number(l.line[0]!.functionId))).toBe(true);
    }
    const byName = new Map(p.function.map((f) => [s[Number(f.name)], f]));
    const kernelLoc = p.location.find((l) => Number(l.line[0]!.functionId) === Number(byName.get('do_syscall_64')!.id))!;
    expect(s[Number(p.mapping.find((m) => Number(m.id) === Number(kernelLoc.mappingId))!.filename)]).toBe('[kernel]');
  });

  test('long multi-byte names, deep stacks and big counts (lengths and varints past one byte)', () => {
    const name = 'é'.repeat(300);
    const frames = [proc('a'), ...Array.from({ length: 200 }, (_, i) => user(`${name}${i}`))];
    const one = decode(renderPprof(profile([{ pid: 1, comm: 'a', frames, count: 2 ** 40 }], { hz: 1 })));
    expect(stacks(one)).toEqual([{ stack: frames.map((f) => f.name), values: [2 ** 40, 2 ** 40 * 1e9], pid: 1 }]);
  });

  test('a big profile round-trips every count (multi-byte lengths in nested messages)', () => {
    const big = bigProfile(2000, 50_000, 7);
    const decoded = decode(renderPprof(big));
    const got = stacks(decoded);
    expect(got).toHaveLength(big.samples.length);
    got.forEach((g, i) => {
      const want = big.samples[i]!;
      expect(g.stack).toEqual(want.frames.map((f) => f.name));
      expect(g.values).toEqual([want.count, want.count * periodNanos(big.hz)]);
    });
  });
});
