// Log records the host builds (issue #16, case 9): an exporter's JSON log line used to be merged
// over the host's keys, giving records such as `"level":40,…,"level":60,"time":1,"service":"sshd"`
// and letting any exporter emit a fake `event:"oom_kill"`; the quarantine event repeated `msg`.
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { ExporterRegistry } from '../../src/exporters/host/registry.js';
import { createLogging, exporterLogHooks, exporterLogRecord, logExporterQuarantine, type Logging } from '../../src/logs/index.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { encodeBatch, testHost } from '../exporters/helpers.js';
import { abiModule, callImport, i32, OP } from '../exporters/wasm-module.js';

const SPOOF = '{"level":60,"time":1,"service":"sshd","pid":1,"hostname":"db-1","msg":"root login","exporter":"oom","event":"oom_kill","exporter_fields":{}}';

let logging: Logging | undefined;
afterEach(async () => {
  await logging?.close(0);
  logging = undefined;
});

/** A real pino logger as the collector builds it, writing its JSON lines into `lines`. */
function logger(): { lines: string[]; logging: Logging } {
  const lines: string[] = [];
  logging = createLogging(buildConfig({ log: { level: 'debug' } }), { write: (s: string) => void lines.push(s) });
  return { lines, logging };
}

/** The keys of every JSON object in `line`, checked for duplicates at every depth (JSON.parse keeps the last silently). */
function duplicateKeys(line: string): string[] {
  const dups: string[] = [];
  const stack: Set<string>[] = [];
  let expectKey = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      const s = JSON.parse(line.slice(i, j + 1)) as string;
      if (expectKey && line[j + 1] === ':') {
        const keys = stack[stack.length - 1]!;
        if (keys.has(s)) dups.push(s);
        keys.add(s);
      }
      i = j;
      expectKey = false;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '}') stack.pop();
    else if (c === ',') expectKey = stack.length > 0 && line.lastIndexOf('{', i) > line.lastIndexOf('[', i);
  }
  return dups;
}

describe('exporter log records', () => {
  it('namespace a user exporter\'s fields under exporter_fields: no duplicate key, no event, the host\'s level, time and service', () => {
    const { lines, logging } = logger();
    const before = Date.now();
    exporterLogHooks(logging.logger).log('spoofer', 2, SPOOF, JSON.parse(SPOOF) as Record<string, unknown>, false);
    expect(lines).toHaveLength(1);
    expect(duplicateKeys(lines[0]!)).toEqual([]);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(rec).sort()).toEqual(['exporter', 'exporter_fields', 'level', 'msg', 'service', 'time']);
    expect(rec).toMatchObject({ level: 40, service: 'bpfwasm', exporter: 'spoofer', msg: 'root login', exporter_fields: JSON.parse(SPOOF) });
    expect(rec.time).toBeGreaterThanOrEqual(before);
  });

  it.each([
    ['a user exporter', 'spoofer', true, false],
    ['a user module named like the built-in', 'oom', false, false],
    ['another built-in', 'process', true, false],
    ['the built-in that owns the event', 'oom', true, true],
  ])('name the event only for the built-in that owns it: %s', (_, exporter, builtin, named) => {
    const record = exporterLogRecord(exporter, '{"event":"oom_kill","pid":7}', { event: 'oom_kill', pid: 7 }, builtin);
    expect(record.fields).toEqual({ exporter, ...(named ? { event: 'oom_kill' } : {}), exporter_fields: { event: 'oom_kill', pid: 7 } });
    expect(record.msg).toBe('oom_kill');
  });

  it('keep a plain line as the message, with only the exporter beside it', () => {
    expect(exporterLogRecord('x', 'hello {"level":1}', undefined, false)).toEqual({ fields: { exporter: 'x' }, msg: 'hello {"level":1}' });
  });

  it('the quarantine event has each key once', () => {
    const { lines, logging } = logger();
    logExporterQuarantine(logging.logger, { exporter: 'x', reason: 'trap', detail: 'unreachable', retryAt: 0, retryInMs: 1000 });
    expect(duplicateKeys(lines[0]!)).toEqual([]);
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: 'exporter_quarantined', exporter: 'x', reason: 'trap', retry_in_ms: 1000, msg: 'exporter x quarantined: trap' });
  });

  it('a real exporter quarantined by the runtime is logged once, as README.md documents the event: warn, these fields exactly', async () => {
    const { lines, logging } = logger();
    const hooks = exporterLogHooks(logging.logger);
    const host = testHost({ limits: { maxConsecutiveTraps: 2, quarantineBaseMs: 60_000, quarantineMaxMs: 60_000 } });
    // The collector's wiring (src/collector.ts): the runtime's log and quarantine hooks onto its logger.
    const registry = new ExporterRegistry({ ...host, log: hooks.log, quarantined: hooks.quarantined });
    const UNREACHABLE = 0x00;
    try {
      const trapper = await registry.load('trapper', abiModule({ onBatch: [UNREACHABLE] }));
      const batch = encodeBatch(RecordType.process_fork, [{ comm: 'sh' }]);
      trapper.onBatch(RecordType.process_fork, batch, 1);
      trapper.onBatch(RecordType.process_fork, batch, 1);
      await trapper.flush();
      expect(trapper.state).toBe('quarantined');
      const logged = lines.filter((l) => l.includes('quarantined'));
      expect(logged).toHaveLength(1);
      expect(duplicateKeys(logged[0]!)).toEqual([]);
      const rec = JSON.parse(logged[0]!) as Record<string, unknown>;
      expect(rec).toEqual({
        level: 40, time: expect.any(Number), service: 'bpfwasm',
        event: 'exporter_quarantined', exporter: 'trapper', reason: 'trap',
        detail: 'trapper: trapped in 2 batches in a row (last: bpfwasm_on_batch trapped: unreachable)',
        retry_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), retry_in_ms: 60_000,
        msg: 'exporter trapper quarantined: trap',
      });
      // retry_at is when the restart is due: the quarantine's length after the event.
      const due = Date.parse(rec.retry_at as string) - (rec.time as number);
      expect(due).toBeGreaterThan(59_000);
      expect(due).toBeLessThanOrEqual(60_000);
    } finally {
      await registry.close();
    }
  });

  it('a module logging the spoof through the log import gets a namespaced record from the real runtime', async () => {
    const { lines, logging } = logger();
    const hooks = exporterLogHooks(logging.logger);
    const registry = new ExporterRegistry({ ...testHost(), log: hooks.log, quarantined: hooks.quarantined });
    const bytes = new TextEncoder().encode(SPOOF);
    const init = [OP.i32Const, 2, OP.i32Const, ...i32(4096), OP.i32Const, ...i32(bytes.length), ...callImport('log'), OP.i32Const, 0];
    try {
      await registry.load('oom', abiModule({ data: [{ offset: 4096, bytes }], init }));
      const line = lines.find((l) => l.includes('root login'));
      expect(line).toBeDefined();
      expect(duplicateKeys(line!)).toEqual([]);
      const rec = JSON.parse(line!) as Record<string, unknown>;
      expect(rec.event).toBeUndefined(); // a module named oom, but not the shipped one
      expect(rec).toMatchObject({ level: 40, service: 'bpfwasm', exporter: 'oom', exporter_fields: { event: 'oom_kill', service: 'sshd' } });
    } finally {
      await registry.close();
    }
  });
});

describe('the duplicate-key check itself', () => {
  it('finds duplicates at any depth and none in clean lines', () => {
    expect(duplicateKeys('{"a":1,"b":{"a":2,"c":[{"a":1},{"a":2}]},"a":3}')).toEqual(['a']);
    expect(duplicateKeys('{"a":"x,\\"a\\":1","b":{"a":{"a":1}}}')).toEqual([]);
    expect(duplicateKeys('{"x":{"k":1,"k":2}}')).toEqual(['k']);
  });
});
