// The process exporter's `process_exit` log events, fed synthetic exits: which exits are
// logged under each `logExits` setting, and the exact JSON fields the host receives.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { buildAll } from '../../scripts/build-exporters.mjs';
import { feed, loadBuilt, testHost, valueOf, type RecordValues, type TestHost } from '../exporters/helpers.js';

const EXIT = RecordType.process_exit;
const INFO = 1;

beforeAll(async () => {
  await buildAll();
});

async function load(logExits?: string, more: Record<string, string> = {}): Promise<{ exporter: Exporter; host: TestHost }> {
  const host = testHost({ settings: logExits === undefined ? {} : { process: { logExits, ...more } } });
  return loadBuilt('process', host);
}

function exit(over: RecordValues = {}): RecordValues {
  return { pid: 4000, tgid: 4000, comm: 'worker', ppid: 1, exit_code: 0, exit_signal: 0, lifetime_ns: 1_500_000_000n, ...over };
}

const BATCH = [
  exit(),
  exit({ tgid: 4001, exit_code: 3, lifetime_ns: 1_234_567_891n }),
  exit({ tgid: 4002, exit_signal: 9, lifetime_ns: 7n }),
  exit({ tgid: 4003, exit_signal: 11, exit_code: 0, comm: 'a"b\\c\u0001', lifetime_ns: 3_600_000_000_000n }),
  exit({ tgid: 4004, exit_signal: 40 }),
];

function events(host: TestHost): Record<string, unknown>[] {
  return host.logs.filter((l) => l.exporter === 'process' && l.fields).map((l) => {
    expect(l.level).toBe(INFO);
    return l.fields!;
  });
}

describe('process exporter exit events', () => {
  it('by default logs only the listed exits: crashes and kills, and exit codes 126 and 127, not grep finding nothing', async () => {
    const { exporter, host } = await load();
    await feed(exporter, EXIT, [...BATCH, exit({ tgid: 4005, exit_code: 1, comm: 'grep' }), exit({ tgid: 4006, exit_code: 127 }), exit({ tgid: 4007, exit_signal: 13 })]);
    expect(events(host).map((e) => e.pid)).toEqual([4002, 4003, 4006]);
    expect(valueOf(host.store, 'bpfwasm_process_exit_total', { comm: 'grep', exit_code: '1' })).toBe(1); // still counted
  });

  it('with logExits "listed" takes its own codes and signals', async () => {
    const { exporter, host } = await load('listed', { logExitCodes: '3, 1', logExitSignals: 'SIGPIPE' });
    await feed(exporter, EXIT, [...BATCH, exit({ tgid: 4005, exit_code: 1 }), exit({ tgid: 4007, exit_signal: 13 })]);
    expect(events(host).map((e) => e.pid)).toEqual([4001, 4005, 4007]);
  });

  it('refuses a listed code or signal it does not know, naming it', async () => {
    for (const [key, value, msg] of [
      ['logExitCodes', '1,x', 'logExitCodes must be exit codes 1-255, got "x"'],
      ['logExitSignals', 'SIGNOPE', 'logExitSignals must be signal names like SIGKILL, got "SIGNOPE"'],
    ] as const) {
      const host = testHost({ settings: { process: { [key]: value } } });
      await expect(loadBuilt('process', host)).rejects.toThrow(/bpfwasm_init trapped/);
      expect(host.logs).toContainEqual({ exporter: 'process', level: 3, msg });
    }
  });

  it('with logExits "nonzero" logs every non-zero exit, with exact fields, and still counts every exit', async () => {
    const { exporter, host } = await load('nonzero');
    await feed(exporter, EXIT, BATCH);
    expect(events(host)).toEqual([
      { event: 'process_exit', pid: 4001, comm: 'worker', exit_code: 3, signal: null, lifetime_seconds: 1.234567 },
      { event: 'process_exit', pid: 4002, comm: 'worker', exit_code: 0, signal: 'SIGKILL', lifetime_seconds: 0 },
      { event: 'process_exit', pid: 4003, comm: 'a"b\\c\u0001', exit_code: 0, signal: 'SIGSEGV', lifetime_seconds: 3600 },
      { event: 'process_exit', pid: 4004, comm: 'worker', exit_code: 0, signal: 'SIG40', lifetime_seconds: 1.5 },
    ]);
    // The raw line is JSON the host parsed, microseconds always written with six digits.
    expect(host.logs.find((l) => l.fields?.pid === 4002)!.msg).toContain('"lifetime_seconds":0.000000}');
    expect(valueOf(host.store, 'bpfwasm_process_exit_total', { comm: 'worker', exit_code: '0' })).toBe(1);
    expect(exporter.errors + exporter.traps).toBe(0);
  });

  it('with logExits "signals" logs only the exits caused by a signal', async () => {
    const { exporter, host } = await load('signals');
    await feed(exporter, EXIT, BATCH);
    expect(events(host).map((e) => e.pid)).toEqual([4002, 4003, 4004]);
  });

  it('with logExits "none" logs nothing', async () => {
    const { exporter, host } = await load('none');
    await feed(exporter, EXIT, BATCH);
    expect(events(host)).toEqual([]);
    expect(host.logs.filter((l) => l.exporter === 'process' && l.level > 0)).toEqual([]);
  });

  it('refuses an unknown logExits value at load', async () => {
    const host = testHost({ settings: { process: { logExits: 'all' } } });
    await expect(loadBuilt('process', host)).rejects.toThrow(/bpfwasm_init trapped/);
    expect(host.logs).toContainEqual({ exporter: 'process', level: 3, msg: 'logExits must be listed, nonzero, signals or none, got "all"' });
  });

  it('is rate-limited by the host like any exporter log line, the drops counted', async () => {
    const { exporter, host } = await load('nonzero');
    const many = Array.from({ length: 200 }, (_, i) => exit({ tgid: 10_000 + i, exit_code: 1 }));
    await feed(exporter, EXIT, many);
    const logged = events(host).length;
    expect(logged).toBeGreaterThanOrEqual(50); // the burst
    expect(logged).toBeLessThan(200);
    expect(exporter.logsDropped).toBe(200 - logged);
    expect(valueOf(host.store, 'bpfwasm_process_exit_total', { comm: 'worker', exit_code: '1' })).toBe(200);
  });
});
