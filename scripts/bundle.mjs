#!/usr/bin/env node
// Bundles what `bpfwasm` runs into a few files (issue #17, time to ready): Node 20 has no module
// compile cache, and resolving, reading and compiling the ~750 files `bpfwasm run` loaded (our
// dist/src and node_modules; 43 bundled) cost a quarter of its CPU to ready. From the TypeScript sources:
//   dist/bundle/cli.cjs              the `bpfwasm` command, CommonJS: its chunks (dist/bundle/*.cjs)
//                                    compile through V8's code cache (src/code-cache.ts), which
//                                    Node 20 offers to vm.Script, not to ES modules
//   dist/src/cli.js                  the bin's file: replaces tsc's cli.js (nothing imports it) with
//                                    a launcher that sets the V8 flags and runs dist/bundle/cli.cjs
//   dist/bundle/exporter-worker.cjs  the exporter thread's entry (src/exporters/host/thread.ts finds
//                                    it), CommonJS too: a worker spared the ES module loader is
//                                    ready ~15 ms of CPU sooner
// The lazily loaded parts (the other commands, the gRPC API, remote write) are chunks of their own.
// The rest of dist/src stays tsc's, for the tests, the scripts and
// `bpfwasm/testing`. V8 holds every loaded source in the heap, a whole source at two bytes a
// character if one character is not Latin-1: comments and whitespace are dropped and non-ASCII
// characters escaped (the escaping alone: the idle heap's sources 5.7 → 3.7 MiB). Names are kept, so a stack trace
// still names its functions; the source maps beside the files give the .ts lines under
// `node --enable-source-maps`. Skipped when nothing changed since the last bundle; `--force`
// bundles anyway.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { build } from 'rolldown';

const ROOT = join(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.bundle.stamp');
const CLI = join(DIST, 'src', 'cli.js');

/** dist/src/cli.js: the V8 flags first (src/v8-flags.ts), then the bundle through the code cache. */
const LAUNCHER = `#!/usr/bin/env node
// Written by scripts/bundle.mjs: runs the CommonJS bundle through V8's code cache (src/code-cache.ts).
import './v8-flags.js';
import { fileURLToPath } from 'node:url';
import { runBundle } from './code-cache.js';

runBundle(fileURLToPath(new URL('../bundle/cli.cjs', import.meta.url)));
`;

/** True when the stamp is newer than every source, the lockfile and tsc's last write of cli.js. */
function upToDate() {
  if (!existsSync(STAMP) || !existsSync(CLI)) return false;
  const newer = execFileSync('find', ['src', 'package-lock.json', 'scripts/bundle.mjs', CLI, '-newer', STAMP, '-print', '-quit'], { cwd: ROOT, encoding: 'utf8' });
  return newer === '';
}

if (process.argv.includes('--force') || !upToDate()) {
  rmSync(join(DIST, 'bundle'), { recursive: true, force: true });
  rmSync(join(DIST, 'code-cache'), { recursive: true, force: true }); // the caches of the chunks just removed
  const common = {
    cwd: ROOT,
    platform: 'node',
    // A native addon stays in node_modules (it loads its .node file by path).
    external: ['snappy'],
    logLevel: 'warn',
  };
  const output = {
    dir: DIST,
    sourcemap: true,
    minify: { compress: false, mangle: false, codegen: { removeWhitespace: true } },
    // One non-Latin-1 character makes V8 hold a whole source as two bytes per character.
    charset: 'ascii',
  };
  await build({
    ...common,
    input: { 'bundle/cli': 'src/cli.ts' },
    output: { ...output, format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'bundle/[name]-[hash].cjs' },
  });
  await build({
    ...common,
    input: { 'bundle/exporter-worker': 'src/exporters/worker/worker.ts' },
    output: { ...output, format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'bundle/worker-[name]-[hash].cjs' },
  });
  writeFileSync(CLI, LAUNCHER);
  writeFileSync(STAMP, '');
}
