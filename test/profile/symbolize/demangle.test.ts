// Demangling: known C++ and Rust manglings, robustness on arbitrary input, and the acceptance
// case: C++ frames of node itself read as v8::/node:: names in a real profile of a node process.
import { spawn } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Profiler } from '../../../src/profile/profiler.js';
import { demangle } from '../../../src/profile/symbolize/demangle.js';
import { HELPER, buildHelper } from '../../support/helper-run.js';

describe('demangle', () => {
  it.each([
    ['_ZN4node5StartEiPPc', 'node::Start(int, char**)'],
    ['_ZN2v88internal10ActionNode13ClearCapturesENS0_8IntervalEPNS0_10RegExpNodeE',
      'v8::internal::ActionNode::ClearCaptures(v8::internal::Interval, v8::internal::RegExpNode*)'],
    ['_ZNKSt6vectorIiSaIiEE4sizeEv', 'std::vector<int, std::allocator<int> >::size() const'],
    ['_ZN4core3fmt5write17h0123456789abcdefE', 'core::fmt::write'], // Rust legacy: the hash is dropped
    ['_RNvCs1234_7mycrate3foo', 'mycrate::foo'], // Rust v0
    ['main', 'main'],
    ['Builtins_JSEntry', 'Builtins_JSEntry'],
    ['_Znot-a-mangling', '_Znot-a-mangling'],
    ['', ''],
  ])('%s → %s', (mangled, readable) => {
    expect(demangle(mangled)).toBe(readable);
  });

  it('never throws and always answers a string, whatever the input', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string().map((s) => `_Z${s}`), fc.string().map((s) => `_R${s}`)), (name) => {
      expect(typeof demangle(name)).toBe('string');
    }), { numRuns: 2000 });
  });
});

describe('a profile of node', () => {
  it('names node\'s own C++ frames demangled (v8::internal::…)', async () => {
    buildHelper();
    // JSON round trips spend their time in V8's C++ (the JSON parser and stringifier).
    const busy = spawn(process.execPath, ['-e', 'const o = { a: [1, 2, 3], b: "x".repeat(100) }; for (;;) JSON.parse(JSON.stringify(o));'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const profiler = new Profiler({ helperPath: HELPER, maxConcurrent: 1 });
      const profile = await profiler.run({ pid: busy.pid!, hz: 499, seconds: 2, kernel: false, user: true, idle: false }, new AbortController().signal);
      const names = new Set(profile.samples.flatMap((s) => s.frames.map((f) => f.name)));
      const v8 = [...names].filter((n) => n.startsWith('v8::internal::'));
      expect(v8.length, [...names].slice(0, 40).join('\n')).toBeGreaterThan(0);
      expect([...names].filter((n) => /^_Z/.test(n))).toEqual([]);
    } finally {
      busy.kill('SIGKILL');
    }
  }, 30_000);
});
