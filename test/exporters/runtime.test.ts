// The built-in exporters, built by scripts/build-exporters.mjs, fed synthetic batches.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, seriesId, testHost, valueOf, type TestHost, run, feed, expectClean, loadBuilt } from './helpers.js';

const EXEC = RecordType.process_exec;
const EXIT = RecordType.process_exit;
const FORK = RecordType.process_fork;

beforeAll(async () => {
  await buildAll();
});

async function load(name: string, host: TestHost = testHost()): Promise<{ exporter: Exporter; host: TestHost }> {
  return loadBuilt(name, host);
}

describe('process exporter', () => {
  it('subscribes to exec and exit', async () => {
    const { exporter } = await load('process');
    expect(exporter.subscriptions).toEqual([EXEC, EXIT].sort((a, b) => a - b)); // ascending ids
  });

  it('counts execs by comm', async () => {
    const { exporter, host } = await load('process');
    await feed(exporter, EXEC, [{ comm: 'bash' }, { comm: 'bash' }, { comm: 'ls' }]);
    await feed(exporter, EXEC, [{ comm: 'bash' }]);
    expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'bash' })).toBe(3);
    expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'ls' })).toBe(1);
    expect({ batches: exporter.batches, events: exporter.events }).toEqual({ batches: 2, events: 4 });
    expectClean(exporter);
  });

  it.each([
    [0, 0, '0'], [9, 0, '9'], [126, 0, '126'], [127, 0, '127'], [10, 0, 'other'], [255, 0, 'other'],
    [0, 9, 'SIGKILL'], [0, 15, 'SIGTERM'], [0, 11, 'SIGSEGV'], [0, 1, 'SIGHUP'], [0, 31, 'SIGSYS'],
    [1, 9, 'SIGKILL'], [0, 40, 'signal'],
  ])('maps exit_code %i, exit_signal %i to exit_code="%s"', async (code, signal, label) => {
    const { exporter, host } = await load('process');
    await feed(exporter, EXIT, [{ comm: 'job', exit_code: code, exit_signal: signal, lifetime_ns: 1n }]);
    expect(valueOf(host.store, 'bpfwasm_process_exit_total', { comm: 'job', exit_code: label })).toBe(1);
    expect(host.store.seriesOf('process')).toBe(2); // the exit counter and the lifetime histogram
    expectClean(exporter);
  });

  it('puts a 200 ms lifetime in the le=0.25 bucket, not le=0.1', async () => {
    const { exporter, host } = await load('process');
    await feed(exporter, EXIT, [{ comm: 'sleep', lifetime_ns: 200_000_000n }]);
    const id = seriesId(host.store, 'bpfwasm_process_lifetime_seconds', { comm: 'sleep' })!;
    const h = host.store.histogram(id);
    const bounds = [...host.store.familyOfSeries(id)!.bounds];
    expect(h.cumulative[bounds.indexOf(0.1)]).toBe(0);
    expect(h.cumulative[bounds.indexOf(0.25)]).toBe(1);
    expect({ sum: h.sum, count: h.count }).toEqual({ sum: 0.2, count: 1 });
  });

  it('declares the documented metrics and histogram buckets', async () => {
    const { host } = await load('process');
    const specs = Object.fromEntries(host.store.families.map((f) => [f.spec.name, f.spec]));
    expect(specs.bpfwasm_process_exec_total).toMatchObject({
      kind: 'counter', labelNames: ['comm'], help: 'Processes that called execve, by command name',
    });
    expect(specs.bpfwasm_process_exit_total).toMatchObject({ kind: 'counter', labelNames: ['comm', 'exit_code'] });
    expect(specs.bpfwasm_process_lifetime_seconds).toMatchObject({
      kind: 'histogram', labelNames: ['comm'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
    });
  });

  it('still counts a comm that is not UTF-8, with its non-ASCII bytes as "?"', async () => {
    const { exporter, host } = await load('process');
    const invalid = new Uint8Array([0x66, 0xff, 0x6f, 0x80]);
    await feed(exporter, EXEC, [{ comm: invalid }, { comm: invalid }, { comm: 'café' }]);
    expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'f?o?' })).toBe(2);
    expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'café' })).toBe(1);
    expect(exporter.rejectedCalls).toBe(1); // the first EUTF8 answer; the cache spares the second record
  });

  it('copies a payload that is a Buffer view into a larger buffer, leaving the caller\'s memory usable', async () => {
    const { exporter, host } = await load('process');
    const records = encodeBatch(EXEC, [{ comm: 'view' }]);
    const frame = Buffer.alloc(records.length + 16);
    frame.set(records, 8);
    exporter.onBatch(EXEC, frame.subarray(8, 8 + records.length), 1);
    expect(frame.readUInt32LE(8) & 0xffff).toBe(EXEC); // not detached by the hand-over
    await exporter.flush();
    expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'view' })).toBe(1);
  });

  it('takes a 16-byte comm without a NUL whole', async () => {
    const { exporter, host } = await load('process');
    await feed(exporter, EXEC, [{ comm: 'abcdefghijklmnop' }]);
    expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'abcdefghijklmnop' })).toBe(1);
  });

  it('asks for a larger batch buffer when a batch exceeds the first one', async () => {
    const { exporter, host } = await load('process', testHost({ maxBatchBytes: 1024 }));
    await feed(exporter, EXIT, Array.from({ length: 100 }, () => ({ comm: 'make', exit_code: 2, lifetime_ns: 5n * 10n ** 9n })));
    expect(valueOf(host.store, 'bpfwasm_process_exit_total', { comm: 'make', exit_code: '2' })).toBe(100);
    expectClean(exporter);
  });

  it('counts a batch whose length does not match its count as an error and keeps working', async () => {
    const { exporter, host } = await load('process');
    await run(exporter, EXEC, encodeBatch(EXEC, [{ comm: 'a' }]), 2);
    expect(exporter.errors).toBe(1);
    expect(exporter.lastError).toBe('bpfwasm_on_batch returned 1');
    await feed(exporter, EXEC, [{ comm: 'a' }]);
    expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'a' })).toBe(1);
  });

  it('does not allocate per event: memory stays the same size over many batches', async () => {
    const { exporter } = await load('process');
    const batch = (n: number) => Array.from({ length: 500 }, (_, i) => ({
      comm: `p${i % 50}`, exit_code: (i + n) % 256, exit_signal: i % 7 === 0 ? i % 33 : 0, lifetime_ns: BigInt(i * n) * 1000n,
    }));
    await feed(exporter, EXIT, batch(1));
    const warm = exporter.memoryBytes;
    for (let n = 2; n < 100; n++) await feed(exporter, EXIT, batch(n));
    expect(exporter.memoryBytes).toBe(warm);
    expect(exporter.events).toBe(99 * 500);
    expectClean(exporter);
  });

  it('handles many distinct comms past its cache capacity', async () => {
    const { exporter, host } = await load('process', testHost({ maxSeries: 5000 }));
    const comms = Array.from({ length: 3000 }, (_, i) => `c${i}`);
    await feed(exporter, EXEC, comms.map((comm) => ({ comm })));
    await feed(exporter, EXEC, comms.map((comm) => ({ comm })));
    expect(comms.every((comm) => valueOf(host.store, 'bpfwasm_process_exec_total', { comm }) === 2)).toBe(true);
    expectClean(exporter);
  });
});

describe('forks exporter (C)', () => {
  it('counts new processes and new threads by the parent comm', async () => {
    const { exporter, host } = await load('forks');
    expect(exporter.subscriptions).toEqual([FORK]);
    await feed(exporter, FORK, [
      { comm: 'bash', tgid: 100, pid: 100, child_pid: 101, child_tgid: 101 },
      { comm: 'bash', tgid: 100, pid: 100, child_pid: 102, child_tgid: 102 },
      { comm: 'java', tgid: 200, pid: 201, child_pid: 202, child_tgid: 200 },
      { comm: 'java', tgid: 200, pid: 200, child_pid: 203, child_tgid: 200 },
      { comm: 'java', tgid: 200, pid: 200, child_pid: 300, child_tgid: 300 },
    ]);
    expect(valueOf(host.store, 'bpfwasm_process_fork_total', { comm: 'bash' })).toBe(2);
    expect(valueOf(host.store, 'bpfwasm_process_fork_total', { comm: 'java' })).toBe(1);
    expect(valueOf(host.store, 'bpfwasm_thread_create_total', { comm: 'java' })).toBe(2);
    expect(valueOf(host.store, 'bpfwasm_thread_create_total', { comm: 'bash' })).toBe(0);
    expectClean(exporter);
  });

  it('grows its memory for a batch buffer larger than its static one', async () => {
    const { exporter, host } = await load('forks', testHost({ maxBatchBytes: 1 << 20 }));
    await feed(exporter, FORK, Array.from({ length: 2000 }, () => ({ comm: 'make', tgid: 1, child_tgid: 2 })));
    expect(valueOf(host.store, 'bpfwasm_process_fork_total', { comm: 'make' })).toBe(2000);
    expectClean(exporter);
  });

  it('still counts a comm that is not UTF-8', async () => {
    const { exporter, host } = await load('forks');
    await feed(exporter, FORK, [{ comm: new Uint8Array([0xc3, 0x28]), tgid: 1, child_tgid: 2 }]);
    expect(valueOf(host.store, 'bpfwasm_process_fork_total', { comm: '?(' })).toBe(1);
  });

  it('declares the documented help text', async () => {
    const { host } = await load('forks');
    expect(host.store.families.find((f) => f.spec.name === 'bpfwasm_process_fork_total')?.spec.help)
      .toBe("Processes created by fork/clone, by the parent's command name");
  });
});
