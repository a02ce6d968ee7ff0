// Replay runs real built-in modules over recordings in the collector's runtime: the exposition
// is deterministic and matches a golden file, a changed module fails it, and names come from
// the recording, not from the host replaying it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffExposition, runtimeProblems } from '../../src/cli/exporters-test.js';
import { encodeBatch, RecordType, type RecordValues } from '../../src/testing/index.js';
import { ResolveKind } from '../../src/exporters/abi.js';
import { SCHEMA_VERSION } from '../../src/ingest/generated/events.js';
import { RECORDING_FORMAT, RECORDING_VERSION, RecordingEncoder, type RecordedName } from '../../src/recording/format.js';
import { replay } from '../../src/recording/replay.js';

const ROOT = join(import.meta.dirname, '../..');
const PROCESS = readFileSync(join(ROOT, 'exporters/build/process.wasm'));
const SYSCALLS = readFileSync(join(ROOT, 'exporters/build/syscalls.wasm'));
const GOLDEN = join(import.meta.dirname, 'golden/process.prom');

type Step = { type: number; records: RecordValues[] } | { names: RecordedName[] };

function recording(steps: Step[], maxBatchBytes = 65512): Buffer {
  const e = new RecordingEncoder();
  const parts = [e.header({
    format: RECORDING_FORMAT, version: RECORDING_VERSION, schema_version: SCHEMA_VERSION, collector: '0.1.0', max_batch_bytes: maxBatchBytes,
    kernel: 'test', arch: 'x64', started_unix_ms: 0, filter: { types: [], pid: 0, comm: '', cgroup: '' }, limits: { events: 0, bytes: 0, seconds: 0 },
  })];
  let events = 0;
  steps.forEach((s, i) => {
    if ('names' in s) {
      parts.push(e.names(s.names));
      return;
    }
    parts.push(e.clock(BigInt(i) * 1_000_000n), e.events(s.type, encodeBatch(s.type, s.records), s.records.length));
    events += s.records.length;
  });
  parts.push(e.end({ events, batches: steps.length, lost: 0, duration_ms: 1, stopped: 'events' }));
  return Buffer.concat(parts);
}

// Execs and exits of a few commands: exit codes, a signal, and lifetimes across the buckets.
const PROCESS_RUN = recording(Array.from({ length: 40 }, (_, i) => [
  { type: RecordType.process_exec, records: [{ comm: `cmd${i % 4}`, tgid: 100 + i, ppid: 1 }, { comm: 'sh', tgid: 200 + i, ppid: 1 }] },
  { type: RecordType.process_exit, records: [
    { comm: `cmd${i % 4}`, tgid: 100 + i, exit_code: i % 3, lifetime_ns: BigInt(i) * 7_000_000n },
    { comm: 'sh', tgid: 200 + i, exit_signal: i % 5 === 0 ? 9 : 0, lifetime_ns: BigInt(i) * 300_000_000n },
  ] },
]).flat());

describe('replay', () => {
  it('gives the golden exposition for the process exporter, the same on every run', async () => {
    const first = await replay('process', PROCESS, PROCESS_RUN);
    const second = await replay('process', PROCESS, PROCESS_RUN);
    expect(second.exposition).toBe(first.exposition);
    if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, first.exposition);
    expect(first.exposition).toBe(readFileSync(GOLDEN, 'utf8'));
    expect(first).toMatchObject({ events: 160, batches: 80, errors: 0, traps: 0, timeouts: 0, dropped: 0, rejectedOps: 0, lostInRecording: 0 });
    expect(runtimeProblems(first)).toEqual([]);
    expect(first.end?.stopped).toBe('events');
  });

  it('fails the golden file when the module changed (one histogram bound moved)', async () => {
    const changed = Buffer.from(PROCESS);
    const bound = Buffer.alloc(8);
    bound.writeDoubleLE(0.005);
    const at = changed.indexOf(bound);
    expect(at).toBeGreaterThan(0);
    changed.writeDoubleLE(0.006, at);
    const r = await replay('process', changed, PROCESS_RUN);
    const diff = diffExposition(readFileSync(GOLDEN, 'utf8'), r.exposition);
    expect(diff).toContain('- bpfwasm_process_lifetime_seconds_bucket{comm="cmd0",le="0.005"} 1');
    expect(diff).toContain('+ bpfwasm_process_lifetime_seconds_bucket{comm="cmd0",le="0.006"} 1');
  });

  it('answers resolve from the recording, not from the host that replays it', async () => {
    const r = await replay('syscalls', SYSCALLS, recording([
      { names: [{ kind: ResolveKind.SYSCALL, id: 2n, name: 'recorded_open' }, { kind: ResolveKind.ERRNO, id: 13n, name: 'RECORDED_EACCES' }] },
      { type: RecordType.syscall_error, records: [{ nr: 2, error: 13, count: 4 }, { nr: 3, error: 13, count: 1 }] },
    ]));
    expect(r.exposition).toContain('bpfwasm_syscall_errors_total{syscall="recorded_open",errno="RECORDED_EACCES"} 4');
    // No answer recorded for syscall 3: unknown, as the live collector would have had it.
    expect(r.exposition).toContain('bpfwasm_syscall_errors_total{syscall="syscall_3",errno="RECORDED_EACCES"} 1');
    expect(r.unanswered).toBeGreaterThan(0);
  });

  it("applies every batch even when there are far more than the worker's queue holds", async () => {
    const many = recording(Array.from({ length: 500 }, (_, i) => ({ type: RecordType.process_exec, records: [{ comm: 'burst', tgid: i + 1 }] })));
    const r = await replay('process', PROCESS, many);
    expect(r.dropped).toBe(0);
    expect(r.exposition).toContain('bpfwasm_process_exec_total{comm="burst"} 500');
  });

  it('takes settings as the collector does, and a module refusing them fails the replay', async () => {
    await expect(replay('process', PROCESS, PROCESS_RUN, { settings: { logExits: 'sometimes' } })).rejects.toThrow(/logExits must be listed, nonzero, signals or none/);
    const quiet = await replay('process', PROCESS, PROCESS_RUN, { settings: { logExits: 'none' } });
    expect(quiet.logs).toEqual([]);
    expect((await replay('process', PROCESS, PROCESS_RUN)).logs.length).toBeGreaterThan(0);
  });
});

describe('diffExposition', () => {
  it.each([
    ['equal', 'a 1\nb 2\n', 'a 1\nb 2\n', []],
    ['a changed value', 'a 1\nb 2\n', 'a 1\nb 3\n', ['- b 2', '+ b 3']],
    ['a missing series', 'a 1\nb 2\n', 'a 1\n', ['- b 2']],
    ['a new series', 'a 1\n', 'a 1\nc 1\n', ['+ c 1']],
    ['only a trailing newline apart', 'a 1', 'a 1\n', []],
  ])('%s', (_what, expected, actual, diff) => {
    expect(diffExposition(expected, actual)).toEqual(diff);
  });
});
