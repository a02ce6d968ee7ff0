// Profiles shared by the renderer tests.
import type { Frame, Profile, StackSample } from '../../../src/profile/model.js';

export function profile(samples: StackSample[], over: Partial<Profile> = {}): Profile {
  return {
    id: 'p1',
    startedAt: Date.UTC(2024, 0, 2, 3, 4, 5),
    hz: 99,
    seconds: 10,
    filters: { kernel: true, user: true, idle: false },
    samples,
    totalSamples: samples.reduce((n, s) => n + s.count, 0),
    stackErrors: { kernelMissing: 0, userMissing: 0, lost: 0, other: 0 },
    warnings: [],
    ...over,
  };
}

const APP = '/usr/bin/app';
export const proc = (name: string): Frame => ({ name, kind: 'process' });
export const user = (name: string, module = APP): Frame => ({ name, kind: 'user', module });
export const kernel = (name: string): Frame => ({ name, kind: 'kernel', module: '[kernel]' });
export const jit = (name: string, pid: number): Frame => ({ name, kind: 'jit', module: `/tmp/perf-${pid}.map` });

/** Two processes of one comm (which fold together), a kernel leaf and a Node JIT frame. */
export const small = profile(
  [
    { pid: 10, comm: 'app', frames: [proc('app'), user('main'), user('work')], count: 5 },
    { pid: 10, comm: 'app', frames: [proc('app'), user('main'), kernel('do_syscall_64')], count: 3 },
    { pid: 11, comm: 'app', frames: [proc('app'), user('main'), user('work')], count: 2 },
    { pid: 20, comm: 'node', frames: [proc('node'), jit('LazyCompile:*handler a.js:1', 20)], count: 1 },
  ],
  { warnings: ['user stacks are short: binaries lack frame pointers'] },
);

/** A deterministic pseudo-random generator (mulberry32), so big profiles are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `stacks` distinct stacks whose counts sum to `samples`, over 20 processes. Shallow frames come
 * from few functions and deep ones from many, so prefixes are shared as in real profiles.
 */
export function bigProfile(stacks: number, samples: number, seed = 1): Profile {
  const r = rng(seed);
  const pool = Array.from({ length: 2000 }, (_, i) => `fn_${i}_${'x'.repeat(i % 30)}`);
  const out: StackSample[] = [];
  for (let i = 0; i < stacks; i++) {
    const pid = 100 + (i % 20);
    const depth = 2 + Math.floor(r() * 30);
    const frames: Frame[] = [proc(`comm${pid}`)];
    for (let d = 0; d < depth; d++) {
      const f = pool[Math.floor(r() * Math.min(pool.length, 2 + 4 * d * d))]!;
      frames.push(d > depth - 4 ? kernel(`k_${f}`) : d % 7 === 6 ? jit(`js ${f}`, pid) : user(f, `/lib/lib${d % 5}.so`));
    }
    frames.push(user(`leaf_${i}`)); // makes every stack distinct
    const count = Math.floor(samples / stacks) + (i < samples % stacks ? 1 : 0);
    out.push({ pid, comm: `comm${pid}`, frames, count });
  }
  return profile(out);
}

/** The tree JSON embedded in the page, parsed the way the page's script parses it. */
export function embeddedTree(html: string): unknown {
  const m = /<script type="application\/json" id="profile-data">([^<]*)<\/script>/.exec(html);
  if (!m) throw new Error('no embedded tree');
  return JSON.parse(m[1]!);
}
