// Hot reload and shadow rollout (issue #6 acceptance): versions are swapped, run as shadows,
// promoted and aborted while a known number of events flows, and the counts stay exact.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeU32 } from '../../src/exporters/worker/memory-cap.js';
import { ExporterRegistry, moduleVersion } from '../../src/exporters/host/registry.js';
import { keyId, signModule, trustPolicy } from '../../src/exporters/host/signing.js';
import { serialize } from '../../src/metrics/formats.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { BUILD_DIR, buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, testHost, valueOf, type TestHost } from './helpers.js';
import { generateKeyPairSync } from 'node:crypto';

const EXEC = RecordType.process_exec;
const PER_BATCH = 32;
const exec = encodeBatch(EXEC, Array.from({ length: PER_BATCH }, () => ({ comm: 'steady' })));
let process: Uint8Array;

beforeAll(async () => {
  await buildAll();
  process = readFileSync(join(BUILD_DIR, 'process.wasm'));
});

/** The same module with a custom section appended: another version (hash), the same behaviour. */
function variant(bytes: Uint8Array, tag: string): Uint8Array {
  const name = Buffer.from('bpfwasm.test');
  const body = [...writeU32(name.length), ...name, ...Buffer.from(tag)];
  return Uint8Array.from([...bytes, 0, ...writeU32(body.length), ...body]);
}

interface Rig {
  host: TestHost;
  registry: ExporterRegistry;
  /** Events dispatched so far. */
  sent: number;
  /** Dispatches a batch every ms until `work` settles, and a few more after. */
  during<T>(work: Promise<T>): Promise<T>;
}

let rigs: Rig[] = [];
afterEach(async () => {
  await Promise.all(rigs.map((r) => r.registry.close()));
  rigs = [];
});

async function rig(trust = trustPolicy([], false)): Promise<Rig> {
  // A deep queue: no batch may be dropped on a loaded CI machine, so any loss is the swap's.
  const host = testHost({ limits: { queueBatches: 100_000 } });
  const registry = new ExporterRegistry(host, trust);
  await registry.load('process', process, 'test');
  const r: Rig = {
    host, registry, sent: 0,
    async during(work) {
      let settled = false;
      void work.then(() => (settled = true), () => (settled = true));
      for (let extra = 0; extra < 5;) {
        registry.dispatch(EXEC, exec, PER_BATCH);
        r.sent += PER_BATCH;
        if (settled) extra++;
        await sleep(1);
      }
      return work;
    },
  };
  rigs.push(r);
  return r;
}

const execs = (r: Rig, store = r.host.store, labels: Record<string, string> = {}) =>
  valueOf(store, 'bpfwasm_process_exec_total', { comm: 'steady', ...labels });

describe('hot reload', () => {
  it('20 swaps while events flow: every event counted once, counters never reset', async () => {
    const r = await rig();
    const versions = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const info = await r.during(r.registry.install('process', variant(process, `v${i}`), { source: 'test' }));
      versions.add(info.current!.version);
      expect(info.current!.state).toBe('loaded');
    }
    await r.registry.flush();
    expect(versions.size).toBe(20);
    expect(execs(r)).toBe(r.sent);
    const [info] = r.registry.describe();
    expect(info!.current!.droppedEvents).toBe(0);
    expect(valueOf(r.host.store, 'bpfwasm_exporter_reloads_total', { exporter: 'process', result: 'ok' })).toBe(20);
    expect(valueOf(r.host.store, 'bpfwasm_exporter_state', { exporter: 'process', state: 'loaded' })).toBe(1);
    expect(valueOf(r.host.store, 'bpfwasm_exporter_dropped_events_total', { exporter: 'process', reason: 'aborted' })).toBe(0);
    expect(r.registry.lastSwap.get('process')!.prepareMs).toBeGreaterThan(0);
  });

  it.each([
    ['random bytes', () => Uint8Array.from({ length: 512 }, (_, i) => (i * 7919) & 0xff), 'EXPORTER_LOAD', /^process: not a valid WebAssembly module/],
    ['a truncated module', () => process.subarray(0, process.length >> 1), 'EXPORTER_LOAD', /^process: not a valid WebAssembly module/],
  ])('a broken new version (%s) is refused and the old one keeps counting', async (_, bytes, code, message) => {
    const r = await rig();
    const before = r.registry.describe()[0]!.current!.version;
    await expect(r.during(r.registry.install('process', bytes()))).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    await r.during(sleep(20));
    await r.registry.flush();
    expect(execs(r)).toBe(r.sent);
    expect(r.registry.describe()[0]!.current).toMatchObject({ version: before, state: 'loaded' });
    expect(valueOf(r.host.store, 'bpfwasm_exporter_reloads_total', { exporter: 'process', result: 'rejected' })).toBe(1);
    expect(valueOf(r.host.store, 'bpfwasm_exporter_state', { exporter: 'process', state: 'loaded' })).toBe(1);
    expect(r.host.logs.some((l) => l.exporter === 'process' && /^new version refused, version [0-9a-f]{12} keeps running: /.test(l.msg))).toBe(true);
  });
});

describe('shadow rollout', () => {
  it('a candidate counts the same load on /metrics/shadow; promotion keeps the counts continuous', async () => {
    const r = await rig();
    await r.during(sleep(30));
    const candidate = variant(process, 'candidate');
    const version = moduleVersion(candidate);
    const shadowStarted = r.sent; // events before the candidate ran: only the current version saw them
    const info = await r.registry.install('process', candidate, { shadow: true });
    expect(info.shadow).toMatchObject({ version, state: 'shadow' });
    const base = r.sent;
    await r.during(sleep(50));
    await r.registry.flush();
    const both = r.sent - base;
    expect(execs(r)).toBe(r.sent);
    expect(execs(r, r.registry.shadowStore, { bpfwasm_exporter_version: version })).toBe(both);
    expect(shadowStarted).toBe(base);
    // The shadow endpoint's text: the version label on every series, self metrics included.
    const text = (await serialize('text', r.registry.shadowStore)).toString();
    expect(text).toContain(`bpfwasm_process_exec_total{comm="steady",bpfwasm_exporter_version="${version}"} ${both}`);
    expect(text).toContain(`bpfwasm_exporter_state{exporter="process",state="shadow",bpfwasm_exporter_version="${version}"} 1`);

    const promoted = await r.during(r.registry.promote('process'));
    expect(promoted.current).toMatchObject({ version, state: 'loaded' });
    expect(promoted.shadow).toBeUndefined();
    await r.during(sleep(30));
    await r.registry.flush();
    expect(execs(r)).toBe(r.sent);
    expect(r.registry.shadowStore.seriesCount).toBe(0);
    expect((await serialize('text', r.registry.shadowStore)).toString()).not.toContain('bpfwasm_process_exec_total');
  });

  it('abort stops the candidate and drops its series; the current version is untouched', async () => {
    const r = await rig();
    const current = r.registry.describe()[0]!.current!.version;
    await r.registry.install('process', variant(process, 'bad idea'), { shadow: true });
    await r.during(sleep(20));
    const info = await r.during(r.registry.abort('process'));
    expect(info.shadow).toBeUndefined();
    expect(info.current).toMatchObject({ version: current, state: 'loaded' });
    await r.registry.flush();
    expect(execs(r)).toBe(r.sent);
    expect(r.registry.shadowStore.seriesCount).toBe(0);
  });

  it('a second candidate replaces the first', async () => {
    const r = await rig();
    await r.registry.install('process', variant(process, 'one'), { shadow: true });
    const two = variant(process, 'two');
    await r.registry.install('process', two, { shadow: true });
    expect(r.registry.describe()[0]!.shadow!.version).toBe(moduleVersion(two));
    await r.during(sleep(20));
    await r.registry.flush();
    expect(execs(r, r.registry.shadowStore, { bpfwasm_exporter_version: moduleVersion(two) })).toBeGreaterThan(0);
    expect(r.registry.shadowStore.families.find((f) => f.spec.name === 'bpfwasm_process_exec_total')!.series.size).toBe(1);
  });
});

describe('management errors say what is wrong and change nothing', () => {
  it.each([
    ['promote without a candidate', (r: Rig) => r.registry.promote('process'), 'EXPORTER_NO_SHADOW', 'process: no shadow candidate to promote'],
    ['abort without a candidate', (r: Rig) => r.registry.abort('process'), 'EXPORTER_NO_SHADOW', 'process: no shadow candidate to abort'],
    ['unload an unknown name', (r: Rig) => r.registry.unload('nope'), 'EXPORTER_NOT_FOUND', 'nope: no exporter of that name is loaded'],
    ['a shadow with no current version', (r: Rig) => r.registry.install('nope', process, { shadow: true }), 'EXPORTER_NOT_FOUND',
      'nope: no exporter of that name is loaded; a shadow candidate runs beside a current version; load one first'],
    ['an invalid name', (r: Rig) => r.registry.install('../etc', process), 'EXPORTER_NAME_INVALID', 'exporter name "../etc" must match [a-z0-9_-]{1,64}'],
  ])('%s', async (_, act, code, message) => {
    const r = await rig();
    await expect(act(r)).rejects.toMatchObject({ code, message });
    expect(r.registry.describe().map((i) => [i.name, i.current?.state, i.shadow])).toEqual([['process', 'loaded', undefined]]);
  });

  it('a change while another runs is refused as busy', async () => {
    const r = await rig();
    const first = r.registry.install('process', variant(process, 'a'));
    await expect(r.registry.install('process', variant(process, 'b'))).rejects.toMatchObject({ code: 'EXPORTER_BUSY' });
    await first;
  });

  it('unload removes the series; the name can be loaded again', async () => {
    const r = await rig();
    await r.during(sleep(10));
    await r.registry.flush();
    await r.registry.unload('process');
    expect(r.registry.describe()).toEqual([]);
    expect(r.host.store.families.some((f) => f.spec.name === 'bpfwasm_process_exec_total')).toBe(false);
    expect(valueOf(r.host.store, 'bpfwasm_exporter_up', { exporter: 'process' })).toBe(0);
    await r.registry.install('process', process);
    expect(r.registry.describe()[0]!.current!.state).toBe('loaded');
  });

  it('with requireSignatures, an unsigned or foreign-signed version is refused and the old one runs on', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const r = await rig(trustPolicy([{ id: keyId(publicKey), key: publicKey, source: 'test' }], true));
    const next = variant(process, 'signed');
    await expect(r.registry.install('process', next)).rejects.toMatchObject({ code: 'EXPORTER_UNSIGNED' });
    await expect(r.registry.install('process', next, { signature: signModule(next, other.privateKey) }))
      .rejects.toMatchObject({ code: 'EXPORTER_KEY_UNKNOWN' });
    await expect(r.registry.install('process', next, { signature: signModule(variant(process, 'x'), privateKey) }))
      .rejects.toMatchObject({ code: 'EXPORTER_SIGNATURE_BAD' });
    const info = await r.registry.install('process', next, { signature: signModule(next, privateKey) });
    expect(info.current).toMatchObject({ version: moduleVersion(next), signedBy: keyId(publicKey) });
  });
});
