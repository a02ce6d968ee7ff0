// `bpfwasm exporters test` and `bpfwasm events --record` through the real CLI (dist/): the
// exit codes a CI job relies on, and options refused instead of ignored.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeBatch, RecordType } from '../../src/testing/index.js';
import { SCHEMA_VERSION } from '../../src/ingest/generated/events.js';
import { RECORDING_FORMAT, RecordingEncoder } from '../../src/recording/format.js';
import { freshTmpDir } from '../exporters/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const PROCESS = join(ROOT, 'exporters', 'build', 'process.wasm');

function bpfwasm(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function recordingFile(dir: string, execs: number): string {
  const e = new RecordingEncoder();
  const file = join(dir, `run${execs}.bwrec`);
  writeFileSync(file, Buffer.concat([
    e.header({
      format: RECORDING_FORMAT, version: 1, schema_version: SCHEMA_VERSION, collector: '0.1.0', max_batch_bytes: 65512, kernel: 'k', arch: 'x64',
      started_unix_ms: 0, filter: { types: [], pid: 0, comm: '', cgroup: '' }, limits: { events: 0, bytes: 0, seconds: 0 },
    }),
    e.events(RecordType.process_exec, encodeBatch(RecordType.process_exec, Array.from({ length: execs }, () => ({ comm: 'sh' }))), execs),
  ]));
  return file;
}

describe('bpfwasm exporters test', () => {
  it('prints the exposition, passes a matching golden file and exits 1 with the difference on another', () => {
    const dir = freshTmpDir('replay');
    const three = recordingFile(dir, 3);
    const printed = bpfwasm(['exporters', 'test', PROCESS, '--replay', three]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain('bpfwasm_process_exec_total{comm="sh"} 3\n');
    expect(printed.stderr).toContain('replayed 3 events in 1 batches');
    expect(printed.stderr).toContain('no END frame'); // this file was never finished by a recorder
    const golden = join(dir, 'golden.prom');
    expect(bpfwasm(['exporters', 'test', PROCESS, '--replay', three, '--expect', golden, '--update']).code).toBe(0);
    expect(readFileSync(golden, 'utf8')).toBe(printed.stdout);
    expect(bpfwasm(['exporters', 'test', PROCESS, '--replay', three, '--expect', golden]).code).toBe(0);
    const other = bpfwasm(['exporters', 'test', PROCESS, '--replay', recordingFile(dir, 4), '--expect', golden]);
    expect(other.code).toBe(1);
    expect(other.stdout).toBe('- bpfwasm_process_exec_total{comm="sh"} 3\n+ bpfwasm_process_exec_total{comm="sh"} 4\n');
    expect(other.stderr).toContain('2 lines differ');
  });

  it('refuses a file that is not a recording, and a bad setting, with one line', () => {
    const dir = freshTmpDir('replay');
    const bad = bpfwasm(['exporters', 'test', PROCESS, '--replay', PROCESS]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^bpfwasm: recording is invalid at byte 0: no frame magic "BWF1" \(not a recording\)\n$/);
    const setting = bpfwasm(['exporters', 'test', PROCESS, '--replay', recordingFile(dir, 1), '--settings', 'logExits=sometimes']);
    expect(setting.code).toBe(1);
    expect(setting.stderr).toMatch(/logExits must be listed, nonzero, signals or none/);
  });

  it('events refuses recording limits without --record instead of ignoring them', () => {
    const r = bpfwasm(['events', '--max-events', '5', '--api', '/nonexistent.sock']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('bpfwasm: --max-events only limits a recording: add --record FILE\n');
  });
});
