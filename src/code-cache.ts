// V8's code cache for the run bundle (issue #17, time to ready). Node 20 has no module compile
// cache (module.enableCompileCache is Node 22), and compiling the bundle's chunks was ~40% of the
// main thread's way to /readyz. The bundle is CommonJS (scripts/bundle.mjs) so that each chunk is
// compiled here, as a vm.Script given the bytecode a previous start saved; once the collector is
// ready, the chunks that came without an accepted cache have theirs written, with every function
// start-up compiled so far.
//
// A cache file is named by its chunk's name, a hash of the chunk's source, the V8 version and the
// architecture: V8's own check of a cache only compares the source's length (and V8's version and
// flags), so the hash is what keeps a rebuilt chunk of the same length from taking stale code.
// V8 still rejects a cache made under other flags: that chunk compiles from source and its cache is
// written again. A missing, unreadable or unwritable directory (a read-only install, the image's
// read-only root filesystem) only means compiling from source, as without a cache.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { basename, dirname, join, sep } from 'node:path';
import vm from 'node:vm';

/** Where the caches go unless BPFWASM_CODE_CACHE_DIR says (a directory, made if its parent exists); set empty, it turns caching off. */
export const CODE_CACHE_ENV = 'BPFWASM_CODE_CACHE_DIR';

const SUFFIX = '.v8cache';
/**
 * A chunk with an import() of its own (the bundle's imports of its chunks are require()s) loads as
 * Node loads it: on Node 20 a script compiled from a code cache loses its import() callback.
 */
const DYNAMIC_IMPORT = 'import(';
/** What Node's CommonJS wrapper puts before a file's first character. */
const WRAPPER_PREFIX_LENGTH = Module.wrap('\0').indexOf('\0');

/** How one chunk was compiled at this start. */
export type ChunkCacheState = 'used' | 'missing' | 'rejected' | 'untrusted' | 'saved';

interface Chunk { name: string; script: vm.Script; cacheFile: string; state: ChunkCacheState }

export interface SaveResult {
  /** Chunks whose cache was written now. */
  written: number;
  /** Why nothing could be written (the directory is not writable...), when so. */
  error?: string;
}

/** The code caches of the CommonJS files under one directory. */
export class CodeCache {
  private readonly chunks: Chunk[] = [];

  constructor(readonly bundleDir: string, readonly cacheDir: string) {}

  /** Compiles a CommonJS file's source wrapped as Node wraps it, with its cache when there is one. */
  compile(source: string, filename: string): vm.Script {
    const name = basename(filename);
    const key = createHash('sha1').update(source).digest('hex');
    const cacheFile = join(this.cacheDir, `${name}.${key}.${process.versions.v8}.${process.arch}${SUFFIX}`);
    const cached = readTrusted(cacheFile);
    const cachedData = cached === 'untrusted' ? undefined : cached;
    // A #! line is a comment to Node's loader only: made one to V8, at the same length.
    const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
    const script = new vm.Script(Module.wrap(body), {
      filename,
      // The wrapper sits on the first line: columns there stay the file's own (stack traces, source maps).
      columnOffset: -WRAPPER_PREFIX_LENGTH,
      ...(cachedData && { cachedData }),
    });
    const state = cached === 'untrusted' ? 'untrusted' : cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'used';
    this.chunks.push({ name, script, cacheFile, state });
    return script;
  }

  /** Each compiled chunk and how, in load order. */
  states(): { name: string; state: ChunkCacheState }[] {
    return this.chunks.map(({ name, state }) => ({ name, state }));
  }

  /**
   * Writes the cache of every chunk that had none accepted (each through a temporary file and a
   * rename, so a reader never sees half of one) and removes the caches of chunks no longer built.
   */
  save(): SaveResult {
    const todo = this.chunks.filter((c) => c.state !== 'used' && c.state !== 'saved');
    if (todo.length === 0) return { written: 0 };
    try {
      // Not recursive: Node 20's mkdir -p never returns for a path under /proc (seen: a collector spinning after ready).
      try {
        mkdirSync(this.cacheDir, { mode: 0o755 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      for (const c of todo) {
        const tmp = `${c.cacheFile}.${process.pid}.tmp`;
        // The name is predictable: in a directory others can write, a link planted there would be
        // followed by a plain write (as root). Removed first (rm never follows a link), then created
        // exclusively, which fails on anything planted in between instead of writing through it.
        rmSync(tmp, { force: true });
        // An explicit mode: under umask 0 the default would make it writable by all, so untrusted at the next start.
        writeFileSync(tmp, c.script.createCachedData(), { mode: 0o644, flag: 'wx' });
        renameSync(tmp, c.cacheFile);
        c.state = 'saved';
      }
      const current = new Set(this.chunks.map((c) => basename(c.cacheFile)));
      for (const f of readdirSync(this.cacheDir)) {
        if (f.endsWith(SUFFIX) && !current.has(f) && this.ownChunk(f)) rmSync(join(this.cacheDir, f), { force: true });
      }
      return { written: todo.filter((c) => c.state === 'saved').length };
    } catch (err) {
      return { written: todo.filter((c) => c.state === 'saved').length, error: (err as Error).message };
    }
  }

  /** A cache file of a chunk of this bundle that this start loaded (another build's hash of it: stale). */
  private ownChunk(file: string): boolean {
    return this.chunks.some((c) => file.startsWith(`${c.name}.`));
  }

  /** Routes every CommonJS file under bundleDir through compile(); the rest loads as Node loads it. */
  install(): void {
    const cache = this;
    const prefix = this.bundleDir.endsWith(sep) ? this.bundleDir : this.bundleDir + sep;
    const proto = Module.prototype as unknown as { _compile(content: string, filename: string): unknown; require(id: string): unknown; exports: unknown };
    const nodeCompile = proto._compile;
    proto._compile = function (this: typeof proto, content: string, filename: string) {
      if (!filename.startsWith(prefix) || content.includes(DYNAMIC_IMPORT)) return nodeCompile.call(this, content, filename);
      const wrapped = cache.compile(content, filename).runInThisContext({ displayErrors: true }) as
        (exports: unknown, require: NodeJS.Require, module: unknown, __filename: string, __dirname: string) => unknown;
      const require = Module.createRequire(filename);
      return wrapped.call(this.exports, this.exports, require, this, filename, dirname(filename));
    };
    (process as unknown as Record<symbol, CodeCache>)[ACTIVE] = this;
  }
}

/**
 * A cache file's bytes, if there is one this process may run: V8 runs a cache's bytecode as the
 * chunk's code, so one that another user owns or could have written (a shared or world-writable
 * BPFWASM_CODE_CACHE_DIR) is not taken; it is compiled from source and written again, as our own.
 */
function readTrusted(file: string): Buffer | 'untrusted' | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined; // none yet, or unreadable: compiled from source
  }
  try {
    const st = fstatSync(fd);
    const uid = process.geteuid?.() ?? st.uid;
    if ((st.uid !== uid && st.uid !== 0) || (st.mode & 0o022) !== 0 || !st.isFile()) return 'untrusted';
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The cache installed in this process, found by the bundle's own copy of this module. */
const ACTIVE = Symbol.for('bpfwasm.codeCache');

/** The code cache this process loads its bundle through, if any. */
export function activeCodeCache(): CodeCache | undefined {
  return (process as unknown as Record<symbol, CodeCache | undefined>)[ACTIVE];
}

/** The cache directory: BPFWASM_CODE_CACHE_DIR, or `code-cache` beside the bundle; undefined when turned off. */
export function codeCacheDir(bundleDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env[CODE_CACHE_ENV];
  if (dir === undefined) return join(dirname(bundleDir), 'code-cache');
  return dir === '' ? undefined : dir;
}

/** Runs the bundle's CommonJS entry, through the code cache unless it is turned off or source maps are on. */
export function runBundle(entry: string): void {
  const bundleDir = dirname(entry);
  const dir = codeCacheDir(bundleDir);
  // Node maps stack traces (--enable-source-maps) only for what its own loader compiled.
  if (dir !== undefined && !process.sourceMapsEnabled) new CodeCache(bundleDir, dir).install();
  Module.createRequire(entry)(entry);
}
