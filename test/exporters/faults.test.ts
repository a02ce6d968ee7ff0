// Fault suite (issue #6 acceptance): each broken module is loaded while two healthy exporters
// (process, forks) count a steady synthetic event stream and /metrics is scraped every 20 ms.
// Each case must end with a clear error or a quarantine, the healthy counts must be exact,
// and /metrics must keep answering within 100 ms.
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BpfwasmError } from '../../src/errors.js';
import { capModule, PAGE_BYTES, writeU32 } from '../../src/exporters/worker/memory-cap.js';
import { ExporterRegistry } from '../../src/exporters/host/registry.js';
import type { RuntimeLimits } from '../../src/exporters/host/runtime.js';
import { EXPORTER_STATES } from '../../src/exporters/host/self-metrics.js';
import { buildServer } from '../../src/http/server.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { BUILD_DIR, buildAll, buildC } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, scrapeLoop, seriesId, testHost, valueOf, type TestHost } from './helpers.js';

const EXEC = RecordType.process_exec;
const FORK = RecordType.process_fork;
const PER_BATCH = 64;
const FIXTURES = join(import.meta.dirname, 'fixtures');
const out = freshTmpDir('faults');
const wasm = (name: string): Uint8Array => readFileSync(join(out, `${name}.wasm`));

beforeAll(async () => {
  const faults = readdirSync(join(FIXTURES, 'faults')).filter((f) => f.endsWith('.c')).map((f) => join(FIXTURES, 'faults', f));
  const sources = [...faults, join(FIXTURES, 'abi_v2.c'), join(FIXTURES, 'missing_on_batch.c')];
  await Promise.all([buildAll(), ...sources.map((f) => buildC([f], join(out, `${basename(f, '.c')}.wasm`)))]);
});

interface Harness {
  readonly host: TestHost;
  readonly registry: ExporterRegistry;
  /** Rounds streamed so far (one exec and one fork batch of PER_BATCH each). */
  readonly rounds: number;
  /** Streams until `done` holds (checked every round), at least `minRounds` rounds. */
  streamUntil(done: () => boolean, what: string, minRounds?: number): Promise<void>;
  /** Stops the stream and checks the healthy exporters and the scrapes. */
  finish(): Promise<void>;
}

async function harness(limits: Partial<RuntimeLimits>, hostOptions: Parameters<typeof testHost>[0] = {}): Promise<Harness> {
  // A deep queue: the healthy exporters must never drop on a loaded CI machine.
  const host = testHost({ maxSeries: 1000, names: { 7: { '9': 'SIGKILL' } }, ...hostOptions, limits: { queueBatches: 4096, ...limits } });
  const registry = new ExporterRegistry(host);
  const dir = freshTmpDir('steady');
  for (const name of ['process', 'forks']) copyFileSync(join(BUILD_DIR, `${name}.wasm`), join(dir, `${name}.wasm`));
  await registry.loadFrom([dir]);
  expect(registry.failed).toEqual([]);

  const app = buildServer({
    store: host.store, refresh: async () => registry.refreshMetrics(), readiness: () => ({ ready: true, waiting: [] }),
  });
  const scrapes = await scrapeLoop(`${await app.listen({ port: 0, host: '127.0.0.1' })}/metrics`, 20);

  const exec = encodeBatch(EXEC, Array.from({ length: PER_BATCH }, () => ({ comm: 'steady' })));
  const fork = encodeBatch(FORK, Array.from({ length: PER_BATCH }, () => ({ comm: 'steady', tgid: 1, child_tgid: 2 })));
  let rounds = 0;
  return {
    host,
    registry,
    get rounds() {
      return rounds;
    },
    async streamUntil(done, what, minRounds = 40) {
      const deadline = Date.now() + 40_000;
      for (let n = 0; n < minRounds || !done(); n++) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
        registry.dispatch(EXEC, exec, PER_BATCH);
        registry.dispatch(FORK, fork, PER_BATCH);
        rounds++;
        await sleep(3);
      }
    },
    async finish() {
      await registry.flush();
      await scrapes.stop();
      const healthy = registry.list().filter((e) => e.name === 'process' || e.name === 'forks');
      for (const e of healthy) {
        expect({ name: e.name, state: e.state, dropped: e.dropped, errors: e.errors, traps: e.traps, timeouts: e.timeouts }).toEqual({
          name: e.name, state: 'loaded', dropped: { queue_full: 0, not_running: 0, aborted: 0 }, errors: 0, traps: 0, timeouts: 0,
        });
      }
      expect(valueOf(host.store, 'bpfwasm_process_exec_total', { comm: 'steady' })).toBe(rounds * PER_BATCH);
      expect(valueOf(host.store, 'bpfwasm_process_fork_total', { comm: 'steady' })).toBe(rounds * PER_BATCH);
      await registry.close();
      await app.close();
    },
  };
}

/** The module with its memory section replaced by `initial` pages and no maximum. */
function withMemory(bytes: Uint8Array, initial: number): Uint8Array {
  const section = [1, 0, ...writeU32(initial)];
  const parts: number[] = [...bytes.subarray(0, 8)];
  for (let at = 8; at < bytes.length;) {
    const id = bytes[at]!;
    let size = 0;
    let shift = 0;
    let p = at + 1;
    for (;;) {
      const b = bytes[p++]!;
      size |= (b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    parts.push(...(id === 5 ? [5, ...writeU32(section.length), ...section] : bytes.subarray(at, p + size)));
    at = p + size;
  }
  return Uint8Array.from(parts);
}


describe('modules refused at load, while the others keep counting', () => {
  const random = (seed: number) => Uint8Array.from({ length: 4096 }, (_, i) => (Math.imul(i + 1, 2654435761 + seed) >>> 13) & 0xff);
  const header = (seed: number) => Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...random(seed)]);
  it.each([
    ['random bytes', () => random(1), 'EXPORTER_LOAD', /^fault: not a valid WebAssembly module: no \\0asm magic$/],
    ['random bytes after a valid header', () => header(2), 'EXPORTER_LOAD', /^fault: not a valid WebAssembly module: /],
    ['a truncated module', () => wasm('grow_loop').subarray(0, wasm('grow_loop').length >> 1), 'EXPORTER_LOAD',
      /^fault: not a valid WebAssembly module: /],
    ['a wrong ABI version', () => wasm('abi_v2'), 'EXPORTER_ABI', /^fault: ABI version 2, host supports 1$/],
    ['missing exports', () => wasm('missing_on_batch'), 'EXPORTER_ABI', /^fault: missing export bpfwasm_on_batch$/],
    ['a 4 GiB memory declaration', () => withMemory(wasm('grow_loop'), 65536), 'EXPORTER_BUDGET',
      /^fault: it declares memory 65536 pages \(4 GiB\)(, .+)?, above its budget of exporters\.maxMemoryPages 64 \(4 MiB\)$/],
  ])('%s', async (_, bytes, code, message) => {
    const h = await harness({ maxMemoryPages: 64 });
    await h.streamUntil(() => true, 'warm-up', 10);
    const loading = h.registry.load('fault', bytes());
    await expect(loading).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    await h.streamUntil(() => true, 'after the refusal', 60);
    // Refused loads keep nothing of their name (issue #16): they are counted by code instead.
    expect(h.host.store.families.find((f) => f.spec.name === 'bpfwasm_exporter_state')!.series.size).toBe(2 * EXPORTER_STATES.length);
    expect(samplesOf(h, 'bpfwasm_exporter_loads_refused_total', { code })).toBe(1);
    await h.finish();
  });

  it('an infinite loop in init is terminated at initTimeoutMs', async () => {
    const h = await harness({ initTimeoutMs: 500 });
    const t0 = Date.now();
    const loading = h.registry.load('fault', wasm('init_loop'));
    let settled = false;
    loading.catch(() => undefined).finally(() => (settled = true));
    await h.streamUntil(() => settled, 'init to be terminated');
    await expect(loading).rejects.toMatchObject({
      code: 'EXPORTER_INIT', message: 'fault: loading did not finish within 500 ms (exporters.initTimeoutMs); its call was stopped',
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(samplesOf(h, 'bpfwasm_exporter_loads_refused_total', { code: 'EXPORTER_INIT' })).toBe(1);
    await h.finish();
  });
});

describe('modules that fail while running are contained', () => {
  it('an infinite loop in the batch call: terminated, quarantined with backoff, restarted, terminated again', async () => {
    const h = await harness({ batchTimeoutMs: 300, quarantineBaseMs: 100, quarantineMaxMs: 400 });
    const fault = await h.registry.load('fault', wasm('batch_loop'));
    await h.streamUntil(() => fault.timeouts >= 2 && fault.restarts >= 1, 'two timeouts and a restart');
    expect(fault.lastError).toBe('fault: bpfwasm_on_batch did not return within 300 ms (exporters.batchTimeoutMs); its call was stopped');
    expect(fault.dropped.aborted).toBeGreaterThan(0);
    expect(fault.dropped.not_running).toBeGreaterThan(0); // batches during the quarantine
    expect(samplesOf(h, 'bpfwasm_exporter_restarts_total', { exporter: 'fault' })).toBe(fault.restarts);
    // Each quarantine is a structured event (it reaches Loki with event="exporter_quarantined"), with a backoff.
    const quarantines = h.host.quarantines.filter((q) => q.exporter === 'fault');
    expect(quarantines.slice(0, 2)).toMatchObject([{ reason: 'timeout', retryInMs: 100 }, { reason: 'timeout', retryInMs: 200 }]);
    await h.finish();
  });

  it('a trap on every call: each counted, then quarantined and restarted from a fresh instance', async () => {
    const h = await harness({ maxConsecutiveTraps: 5, quarantineBaseMs: 100 });
    const fault = await h.registry.load('fault', wasm('trap_always'));
    await h.streamUntil(() => fault.restarts >= 1 && fault.state === 'loaded', 'a restart');
    expect(fault.traps).toBeGreaterThanOrEqual(5);
    // Read from the quarantine event: the stream runs at least 40 rounds, so a restarted
    // instance may already have trapped again and replaced lastError with its raw trap.
    const quarantine = h.host.quarantines.find((q) => q.exporter === 'fault');
    expect(quarantine).toMatchObject({ reason: 'trap', detail: 'fault: trapped in 5 batches in a row (last: bpfwasm_on_batch trapped: unreachable)' });
    expect(fault.lastError).toMatch(/^(fault: trapped in 5 batches in a row \(last: )?bpfwasm_on_batch trapped: unreachable\)?$/);
    expect(samplesOf(h, 'bpfwasm_exporter_errors_total', { exporter: 'fault', kind: 'trap' })).toBe(fault.traps);
    await h.finish();
  });

  it('memory.grow in a loop stops at maxMemoryPages (grow returns -1), then the abort is a counted trap', async () => {
    const h = await harness({ maxMemoryPages: 64, maxConsecutiveTraps: 3, quarantineBaseMs: 100 });
    const fault = await h.registry.load('fault', wasm('grow_loop'));
    await h.streamUntil(() => fault.traps >= 3 && fault.restarts >= 1, 'three traps and a restart');
    expect(h.host.store.value(seriesId(h.host.store, 'grow_pages', {})!)).toBe(capModule('fault', wasm('grow_loop'), 64).maxPages);
    expect(samplesOf(h, 'bpfwasm_exporter_memory_bytes', { exporter: 'fault' })).toBeLessThanOrEqual(64 * 65536);
    await h.finish();
  });

  it('out-of-bounds pointers to every import are answered EBOUNDS and counted, never followed', async () => {
    const h = await harness({});
    const fault = await h.registry.load('fault', wasm('bad_pointers'));
    await h.streamUntil(() => fault.batches >= 20, '20 batches');
    await fault.flush();
    expect({ errors: fault.errors, traps: fault.traps, state: fault.state }).toEqual({ errors: 0, traps: 0, state: 'loaded' });
    expect(fault.rejectedCalls).toBe(fault.batches * 7);
    expect(fault.lastError).toBe('log: message out of bounds (-2)');
    expect(h.host.store.seriesOf('fault')).toBe(0);
    await h.finish();
  });

  it('an oversized label value → ELIMIT (a refused series), invalid UTF-8 → EUTF8; nothing interned', async () => {
    const h = await harness({}, { maxLabelValueBytes: 128 });
    const fault = await h.registry.load('fault', wasm('bad_labels'));
    await h.streamUntil(() => fault.batches >= 20, '20 batches');
    await fault.flush();
    expect({ errors: fault.errors, traps: fault.traps }).toEqual({ errors: 0, traps: 0 });
    expect(fault.rejectedCalls).toBe(fault.batches * 3);
    expect(h.host.store.refusedSeries('fault')).toBe(fault.batches);
    expect(h.host.store.seriesOf('fault')).toBe(0);
    await h.finish();
  });

  it('a million series: all past the series limit refused and counted, the rest applied', async () => {
    const h = await harness({ batchTimeoutMs: 20_000 });
    const fault = await h.registry.load('fault', wasm('million_series'));
    const store = h.host.store;
    await h.streamUntil(() => store.seriesOf('fault') + store.refusedSeries('fault') >= 1_000_000, 'a million series asked for');
    await fault.flush();
    expect(store.seriesOf('fault')).toBe(1000);
    expect(store.refusedSeries('fault')).toBe(999_000);
    const family = store.families.find((f) => f.spec.name === 'million_total')!;
    expect([...family.series].reduce((a, sid) => a + store.value(sid), 0)).toBe(1000);
    expect({ errors: fault.errors, traps: fault.traps, timeouts: fault.timeouts }).toEqual({ errors: 0, traps: 0, timeouts: 0 });
    await h.finish();
  });

  it('a slow exporter fills its own queue: its batches are dropped and counted, dispatch never waits', async () => {
    const h = await harness({ queueBatches: 64 });
    const fault = await h.registry.load('fault', wasm('slow'));
    let slowest = 0;
    const exec = encodeBatch(EXEC, [{ comm: 'x' }]);
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      fault.onBatch(EXEC, exec, 1);
      slowest = Math.max(slowest, performance.now() - t0);
    }
    await h.streamUntil(() => fault.dropped.queue_full > 0, 'drops');
    await fault.flush();
    expect(slowest).toBeLessThan(20);
    // Every event handed to the slow module (200 single ones, then the stream's) was run or dropped.
    expect(fault.events + fault.dropped.queue_full).toBe(200 + h.rounds * PER_BATCH);
    expect(h.host.store.value(seriesId(h.host.store, 'slow_events_total', {})!)).toBe(fault.events);
    expect(samplesOf(h, 'bpfwasm_exporter_dropped_events_total', { exporter: 'fault', reason: 'queue_full' })).toBe(fault.dropped.queue_full);
    await h.finish();
  });
});

describe('the memory cap rewrite', () => {
  it('never throws anything but EXPORTER_LOAD or EXPORTER_BUDGET on arbitrary bytes, and caps what it accepts', () => {
    const valid = wasm('grow_loop');
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 256 }),
      fc.uint8Array({ maxLength: 256 }).map((b) => Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...b])),
      fc.nat({ max: valid.length }).map((n) => valid.subarray(0, n)),
      fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
        const b = Uint8Array.from(valid);
        b[i] = v;
        return b;
      }),
    );
    fc.assert(fc.property(input, (bytes) => {
      try {
        const capped = capModule('m', bytes, 64);
        expect((capped.maxPages ?? 0) * PAGE_BYTES + capped.fixedBytes).toBeLessThanOrEqual(64 * PAGE_BYTES);
      } catch (e) {
        expect(e).toBeInstanceOf(BpfwasmError);
        expect(['EXPORTER_LOAD', 'EXPORTER_BUDGET']).toContain((e as BpfwasmError).code);
      }
    }), { numRuns: 2000 });
  });

  it('lowers a declared maximum above the cap and adds one where none is declared', async () => {
    const none = capModule('m', withMemory(wasm('grow_loop'), 2), 64);
    // What tables, globals and data segments take is left out of the memory's share.
    expect({ initial: none.initialPages, max: none.maxPages }).toEqual({ initial: 2, max: Math.floor((64 * PAGE_BYTES - none.fixedBytes) / PAGE_BYTES) });
    expect(none.maxPages).toBeGreaterThanOrEqual(60);
    const module = await WebAssembly.compile(none.bytes as Uint8Array<ArrayBuffer>);
    expect(WebAssembly.Module.exports(module).some((e) => e.name === 'memory')).toBe(true);
  });
});

function samplesOf(h: Harness, metric: string, labels: Record<string, string>): number {
  h.registry.refreshMetrics();
  return valueOf(h.host.store, metric, labels);
}
