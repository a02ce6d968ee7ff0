import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePerfMap, readPerfMap } from '../../../src/profile/symbolize/perfmap.js';

describe('perf map', () => {
  it('resolves pcs inside entries, newest entry first on overlap, skipping a partial last line', () => {
    const m = parsePerfMap(
      ['3ef0a3c04340 3c Builtin:ArgumentsAdaptorTrampoline', '0x7f0000001000 100 LazyCompile:~hot /app/x.js:1', 'zz 10 bad', '7f0000001080 20 LazyCompile:*hot /app/x.js:1', '7f0000009000 10 partial'].join('\n'),
    );
    expect(m.count).toBe(3);
    expect(m.lookup(0x3ef0a3c04340n)).toBe('Builtin:ArgumentsAdaptorTrampoline');
    expect(m.lookup(0x3ef0a3c0437cn)).toBeUndefined();
    expect(m.lookup(0x7f0000001010n)).toBe('LazyCompile:~hot /app/x.js:1');
    expect(m.lookup(0x7f0000001090n)).toBe('LazyCompile:*hot /app/x.js:1');
    expect(m.lookup(0x7f0000009004n)).toBeUndefined();
  });

  it('reads the lines python3 -X perf (3.12+) writes: bare hex, "py::FUNC:FILE" names', () => {
    // CPython's PyUnstable_WritePerfMapEntry: "%" PRIxPTR " %x %s\n"; file paths may hold spaces.
    const m = parsePerfMap('7f3529fcf759 b py::bar:/run/t.py\n7f3529fcf764 b py::<module>:/srv/my app/main.py\n');
    expect(m.count).toBe(2);
    expect(m.lookup(0x7f3529fcf759n)).toBe('py::bar:/run/t.py');
    expect(m.lookup(0x7f3529fcf763n)).toBe('py::bar:/run/t.py');
    expect(m.lookup(0x7f3529fcf764n)).toBe('py::<module>:/srv/my app/main.py');
  });

  it('parses the map a real node --perf-basic-prof run writes', async () => {
    // V8 also drops an isolate-*.log in its cwd: keep that out of the repository.
    const cwd = mkdtempSync(join(tmpdir(), 'bpfwasm-node-'));
    const pid = Number(
      execFileSync(process.execPath, ['--perf-basic-prof', '-e', 'function hot(n){let s=0;for(let i=0;i<n;i++)s+=i;return s} for(let i=0;i<2000;i++)hot(1000); console.log(process.pid)'], {
        encoding: 'utf8',
        cwd,
      }).trim(),
    );
    const file = `/tmp/perf-${pid}.map`;
    try {
      expect(existsSync(file)).toBe(true);
      const m = (await readPerfMap(pid))!;
      expect(m.count).toBeGreaterThan(10);
      const first = readFileSync(file, 'utf8').split('\n')[0]!.split(' ');
      expect(m.lookup(BigInt(`0x${first[0]!}`) + 1n)).toBe(first.slice(2).join(' '));
    } finally {
      rmSync(file, { force: true });
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
