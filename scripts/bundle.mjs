#!/usr/bin/env node
// Bundles what `bpfwasm` runs into a few files (issue #17, time to ready): Node 20 has no module
// compile cache, and resolving, reading and compiling the ~750 files `bpfwasm run` loaded (our
// dist/src and node_modules; 43 bundled) cost a quarter of its CPU to ready. Two entries, from the
// TypeScript sources:
//   dist/src/cli.js                  the `bpfwasm` bin: replaces tsc's cli.js (nothing imports it)
//   dist/bundle/exporter-worker.js   the exporter thread's entry (src/exporters/host/thread.ts finds it)
// and their shared and lazily loaded parts (the other commands, the gRPC API, remote write) as
// chunks in dist/bundle/. The rest of dist/src stays tsc's, for the tests, the scripts and
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

/** True when the stamp is newer than every source, the lockfile and tsc's last write of cli.js. */
function upToDate() {
  if (!existsSync(STAMP) || !existsSync(CLI)) return false;
  const newer = execFileSync('find', ['src', 'package-lock.json', 'scripts/bundle.mjs', CLI, '-newer', STAMP, '-print', '-quit'], { cwd: ROOT, encoding: 'utf8' });
  return newer === '';
}

if (process.argv.includes('--force') || !upToDate()) {
  rmSync(join(DIST, 'bundle'), { recursive: true, force: true });
  await build({
    cwd: ROOT,
    input: { 'src/cli': 'src/cli.ts', 'bundle/exporter-worker': 'src/exporters/worker/worker.ts' },
    platform: 'node',
    // A native addon stays in node_modules (it loads its .node file by path).
    external: ['snappy'],
    logLevel: 'warn',
    output: {
      dir: DIST,
      format: 'esm',
      entryFileNames: '[name].js',
      chunkFileNames: 'bundle/[name]-[hash].js',
      sourcemap: true,
      minify: { compress: false, mangle: false, codegen: { removeWhitespace: true } },
      // One non-Latin-1 character makes V8 hold a whole source as two bytes per character.
      charset: 'ascii',
    },
  });
  writeFileSync(STAMP, '');
}
