// V8's code cache for the run bundle: a cache is used when valid, ignored and written again when
// stale, corrupt, missing or not trusted (another user's, or writable by others), and an
// unwritable directory only means compiling from source.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeCacheDir } from '../src/code-cache.js';
import { freshTmpDir } from './exporters/helpers.js';

const ROOT = join(import.meta.dirname, '..');

const CODE_CACHE_JS = join(ROOT, 'dist', 'src', 'code-cache.js');

/**
 * Compiles and runs `file` through a CodeCache in a new process (in this one, V8's in-memory
 * compilation cache would answer a second compile of the same source before any code cache),
 * then saves: its value, how it was compiled and what save() said. tsc's dist/src/code-cache.js
 * (`npm run build` first), the module the bin's launcher loads.
 */
function load(bundleDir: string, cacheDir: string, file: string, beforeSave = '') {
  const code = `import { CodeCache } from ${JSON.stringify(CODE_CACHE_JS)};
    import { readFileSync, symlinkSync } from 'node:fs';
    const cache = new CodeCache(${JSON.stringify(bundleDir)}, ${JSON.stringify(cacheDir)});
    const file = ${JSON.stringify(file)};
    const module = { exports: {} };
    cache.compile(readFileSync(file, 'utf8'), file).runInThisContext()(module.exports, undefined, module);
    const value = module.exports.answer();
    const state = cache.states()[0].state;
    ${beforeSave}
    console.log(JSON.stringify({ value, state, saved: cache.save(), again: cache.save() }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { value: number; state: string; saved: { written: number; error?: string }; again: { written: number } };
}

/** A chunk with a lazily compiled function, so a cache made after running holds more than its top level. */
const chunk = (n: number) => `#!/usr/bin/env node\nfunction inner(){return ${n}+1}\nmodule.exports.answer=()=>inner();\n`;

/** A chunk loaded once: its cache written, at `cacheFile`. */
function cachedChunk() {
  const dir = freshTmpDir('code-cache');
  const file = join(dir, 'a.cjs');
  const cacheDir = join(dir, 'cache');
  writeFileSync(file, chunk(40));
  load(dir, cacheDir, file);
  return { dir, file, cacheDir, cacheFile: join(cacheDir, readdirSync(cacheDir)[0]!) };
}

describe('CodeCache', () => {
  it('compiles from source without a cache, writes it, and the next start uses it', () => {
    const dir = freshTmpDir('code-cache');
    const file = join(dir, 'a.cjs');
    writeFileSync(file, chunk(40));
    const cacheDir = join(dir, 'cache');
    const first = load(dir, cacheDir, file);
    expect([first.value, first.state]).toEqual([41, 'missing']);
    expect(first.saved).toEqual({ written: 1 });
    expect(first.again).toEqual({ written: 0 }); // written once
    const files = readdirSync(cacheDir);
    expect(files).toEqual([expect.stringMatching(/^a\.cjs\.[0-9a-f]{40}\..+\.v8cache$/)]);
    const second = load(dir, cacheDir, file);
    expect([second.value, second.state]).toEqual([41, 'used']);
    expect(second.saved).toEqual({ written: 0 }); // an accepted cache is left as it is
  });

  it('does not take the cache of a rebuilt chunk of the same length: compiles the new code and replaces the stale file', () => {
    const dir = freshTmpDir('code-cache');
    const file = join(dir, 'a.cjs');
    const cacheDir = join(dir, 'cache');
    writeFileSync(file, chunk(40));
    load(dir, cacheDir, file);
    const stale = readdirSync(cacheDir);
    writeFileSync(file, chunk(50)); // same length: V8's own check (the length) would take the old code
    const rebuilt = load(dir, cacheDir, file);
    expect([rebuilt.value, rebuilt.state]).toEqual([51, 'missing']);
    expect(rebuilt.saved).toEqual({ written: 1 });
    const now = readdirSync(cacheDir);
    expect(now).toHaveLength(1);
    expect(now).not.toEqual(stale);
    expect(load(dir, cacheDir, file).state).toBe('used');
  });

  it('compiles from source when V8 rejects a cache (corrupt, other flags or version) and writes a good one', () => {
    const dir = freshTmpDir('code-cache');
    const file = join(dir, 'a.cjs');
    const cacheDir = join(dir, 'cache');
    writeFileSync(file, chunk(40));
    load(dir, cacheDir, file);
    const [name] = readdirSync(cacheDir);
    writeFileSync(join(cacheDir, name!), Buffer.alloc(4096, 0x5a));
    const corrupt = load(dir, cacheDir, file);
    expect([corrupt.value, corrupt.state]).toEqual([41, 'rejected']);
    expect(corrupt.saved).toEqual({ written: 1 });
    expect(load(dir, cacheDir, file).state).toBe('used');
  });

  it('does not run a cache another user owns or could have written: compiles from source and writes its own', () => {
    const { dir, file, cacheDir, cacheFile } = cachedChunk();
    chmodSync(cacheFile, 0o666); // writable by anyone: whoever could write it chooses the code run
    const writable = load(dir, cacheDir, file);
    expect([writable.value, writable.state]).toEqual([41, 'untrusted']);
    expect(writable.saved).toEqual({ written: 1 });
    expect(statSync(cacheFile).mode & 0o022).toBe(0); // replaced by one of our own
    chownSync(cacheFile, 65534, 65534); // nobody's
    expect(load(dir, cacheDir, file).state).toBe('untrusted');
    expect(statSync(cacheFile).uid).toBe(process.geteuid!());
    expect(load(dir, cacheDir, file).state).toBe('used');
  });

  it('does not write through a link planted at its temporary file name (a directory others can write)', () => {
    const { dir, file, cacheDir, cacheFile } = cachedChunk();
    chmodSync(cacheFile, 0o666); // untrusted: this start writes its cache again
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    // The child's pid names its temporary file: the link is planted by the child just before save().
    const planted = load(dir, cacheDir, file, `symlinkSync(${JSON.stringify(victim)}, ${JSON.stringify(cacheFile)} + '.' + process.pid + '.tmp');`);
    expect(planted.state).toBe('untrusted');
    expect(planted.saved).toEqual({ written: 1 });
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(cacheFile).isFile()).toBe(true);
    expect(readdirSync(cacheDir)).toEqual([basename(cacheFile)]); // the link went with the write
    expect(load(dir, cacheDir, file).state).toBe('used');
  });

  it('writes caches only its owner may change, under any umask', () => {
    const dir = freshTmpDir('code-cache');
    const file = join(dir, 'a.cjs');
    const cacheDir = join(dir, 'cache');
    writeFileSync(file, chunk(40));
    const old = process.umask(0); // the child inherits it
    try {
      load(dir, cacheDir, file);
    } finally {
      process.umask(old);
    }
    expect(statSync(cacheDir).mode & 0o022).toBe(0);
    expect(statSync(join(cacheDir, readdirSync(cacheDir)[0]!)).mode & 0o022).toBe(0);
    expect(load(dir, cacheDir, file).state).toBe('used');
  });

  it('is harmless where the directory cannot be written: the code runs, save() says why', () => {
    const dir = freshTmpDir('code-cache');
    const file = join(dir, 'a.cjs');
    writeFileSync(file, chunk(40));
    writeFileSync(join(dir, 'not-a-dir'), '');
    // Root passes any permission check: a directory under a regular file cannot be made by anyone.
    const cacheDir = join(dir, 'not-a-dir', 'cache');
    const { value, state, saved } = load(dir, cacheDir, file);
    expect([value, state]).toEqual([41, 'missing']);
    expect(saved).toEqual({ written: 0, error: expect.stringContaining('ENOTDIR') });
    // A directory whose parent is missing is not made (Node 20's recursive mkdir never returns under /proc).
    expect(load(dir, '/proc/bpfwasm-none/cache', file).saved).toEqual({ written: 0, error: expect.stringContaining('ENOENT') });
  });

  it('is found beside the bundle unless BPFWASM_CODE_CACHE_DIR names a directory or, set empty, turns it off', () => {
    expect(codeCacheDir('/opt/bpfwasm/dist/bundle', {})).toBe('/opt/bpfwasm/dist/code-cache');
    expect(codeCacheDir('/opt/bpfwasm/dist/bundle', { BPFWASM_CODE_CACHE_DIR: '/var/cache/bpfwasm' })).toBe('/var/cache/bpfwasm');
    expect(codeCacheDir('/opt/bpfwasm/dist/bundle', { BPFWASM_CODE_CACHE_DIR: '' })).toBeUndefined();
  });

  it('loads a CommonJS bundle through install(): requires between chunks, stack positions; a chunk with import() as Node loads it', () => {
    const dir = freshTmpDir('code-cache');
    const bundle = join(dir, 'bundle');
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'b.cjs'), 'module.exports.where=()=>new Error("here").stack.split("\\n")[1];\n');
    // Node 20 drops a script's import() callback when it comes from a code cache: this one is never cached.
    writeFileSync(join(bundle, 'os.cjs'), 'module.exports.eol=()=>import("node:os").then((os)=>os.EOL);\n');
    writeFileSync(join(bundle, 'main.cjs'), [
      "const b=require('./b.cjs');",
      "require('./os.cjs').eol().then((eol)=>{",
      '  const cache=process[Symbol.for("bpfwasm.codeCache")];',
      '  console.log(JSON.stringify({where:b.where(),eol,states:cache.states(),saved:cache.save()}));',
      '});',
    ].join('\n'));
    const cacheDir = join(dir, 'cache');
    const run = () => {
      const code = `import { runBundle } from ${JSON.stringify(CODE_CACHE_JS)}; runBundle(${JSON.stringify(join(bundle, 'main.cjs'))});`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
        env: { ...process.env, BPFWASM_CODE_CACHE_DIR: cacheDir }, encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as { where: string; eol: string; states: { name: string; state: string }[]; saved: { written: number } };
    };
    const first = run();
    // The wrapper shares the first line: the column is the file's own (1-based: `new Error` at 26).
    expect(first.where).toContain(`${join(bundle, 'b.cjs')}:1:26`);
    expect(first.eol).toBe('\n');
    expect(first.states).toEqual([{ name: 'main.cjs', state: 'missing' }, { name: 'b.cjs', state: 'missing' }]);
    expect(first.saved).toEqual({ written: 2 });
    const second = run();
    expect(second.states).toEqual([{ name: 'main.cjs', state: 'used' }, { name: 'b.cjs', state: 'used' }]);
    expect([second.where, second.eol]).toEqual([first.where, '\n']);
  });
});
