// The bundle `bpfwasm` runs (scripts/bundle.mjs; `npm run build` first): the bin is its entry, V8
// can hold every chunk's source at one byte a character, and it runs exporters in its own worker
// entry, not in the one the test runner bundles for the sources.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeBatch, RecordType } from '../../src/testing/index.js';
import { SCHEMA_VERSION } from '../../src/ingest/generated/events.js';
import { RECORDING_FORMAT, RecordingEncoder } from '../../src/recording/format.js';
import { freshTmpDir } from '../exporters/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const BUNDLE = join(ROOT, 'dist', 'bundle');

describe('the run bundle', () => {
  it('is what the bin runs: dist/src/cli.js runs dist/bundle/cli.cjs, which requires its chunks', () => {
    expect(readFileSync(CLI, 'utf8')).toContain(`runBundle(fileURLToPath(new URL('../bundle/cli.cjs', import.meta.url)))`);
    expect(readFileSync(join(BUNDLE, 'cli.cjs'), 'utf8')).toMatch(/require\("\.\/rolldown-runtime-[\w-]+\.cjs"\)/);
  });

  it('keeps import() out of the chunks `run` loads (Node 20 loses its callback in a script from a code cache)', () => {
    const withImport = readdirSync(BUNDLE).filter((f) => f.endsWith('.cjs') && /\bimport\(/.test(readFileSync(join(BUNDLE, f), 'utf8')));
    // The exporters command's chunk only: `exporters build` and `keygen`, never cached (src/code-cache.ts).
    expect(withImport).toEqual([expect.stringMatching(/^exporters-[\w-]+\.cjs$/)]);
  });

  it('has no character outside Latin-1 (one would make V8 hold its whole chunk at two bytes a character)', () => {
    const chunks = readdirSync(BUNDLE).filter((f) => /\.c?js$/.test(f)).map((f) => join(BUNDLE, f));
    expect(chunks.length).toBeGreaterThan(10);
    expect([CLI, ...chunks].filter((f) => [...readFileSync(f, 'utf8')].some((c) => c.charCodeAt(0) > 0xff))).toEqual([]);
  });

  it('runs an exporter in dist/bundle/exporter-worker.cjs', () => {
    const e = new RecordingEncoder();
    const recording = join(freshTmpDir('bundle'), 'two.bwrec');
    writeFileSync(recording, Buffer.concat([
      e.header({
        format: RECORDING_FORMAT, version: 1, schema_version: SCHEMA_VERSION, collector: '0.1.0', max_batch_bytes: 65512, kernel: 'k', arch: 'x64',
        started_unix_ms: 0, filter: { types: [], pid: 0, comm: '', cgroup: '' }, limits: { events: 0, bytes: 0, seconds: 0 },
      }),
      e.events(RecordType.process_exec, encodeBatch(RecordType.process_exec, [{ comm: 'sh' }, { comm: 'sh' }]), 2),
    ]));
    // Without the test runner's worker (test/support/worker-bundle.ts), the bundle's own must be found.
    const env = { ...process.env };
    delete env.BPFWASM_EXPORTER_WORKER;
    const r = spawnSync(process.execPath, [CLI, 'exporters', 'test', join(ROOT, 'exporters/build/process.wasm'), '--replay', recording], { env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('bpfwasm_process_exec_total{comm="sh"} 2\n');
  });
});
