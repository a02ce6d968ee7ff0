// A sensor the kernel refuses costs the others nothing, and every place a user looks says so:
// /readyz, /metrics, the log, `bpfwasm status` (API and CLI). The refusal is the verifier's own
// (the helper's --test-unloadable, through a helper.path wrapper). `required: true` stops start-up.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI, helperPrograms, onlySensors, samples, scrape, startCollector, unloadableSensorHelper, waitFor, waitReady,
  type RunningCollector,
} from './support/collector.js';
import { buildExporter } from '../../src/testing/index.js';
import { apiClient } from './support/api.js';

// Whichever of its programs the kernel sees first (the sensor's own files may reorder them).
const VERIFIER_LINE = /prog '\w+': Only fentry\/fexit\/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable/;

/** bpfwasm_sensor_info by sensor: its state, route and reason (routes are the sensors' own business). */
function sensorInfo(m: Map<string, number>): Map<string, { state: string; route: string; reason: string; value: number }> {
  const out = new Map<string, { state: string; route: string; reason: string; value: number }>();
  for (const [labels, value] of samples(m, 'bpfwasm_sensor_info')) {
    const [, sensor, state, route, reason] = /^sensor="([^"]+)",state="([^"]+)",route="([^"]*)",reason="(.*)"$/.exec(labels)!;
    expect(out.has(sensor!), `one info series per sensor: ${sensor}`).toBe(false);
    out.set(sensor!, { state: state!, route: route!, reason: reason!, value });
  }
  return out;
}

describe('partial start: tcp refused by the verifier, process and oom running', () => {
  let c: RunningCollector;
  /** The verifier's line, as /readyz gives it; every other place must say the same. */
  let reason: string;
  beforeAll(async () => {
    c = await startCollector({
      helper: { path: unloadableSensorHelper('tcp'), statsMs: 200 },
      sensors: onlySensors({ process: {}, tcp: {}, oom: {} }),
    });
    await waitReady(c);
    reason = ((await (await fetch(`${c.url}/readyz`)).json()) as { off: { reason: string }[] }).off[0]!.reason;
  });
  afterAll(async () => {
    expect(await c.stop()).toBe(0);
  });

  it('/readyz is 200 and lists tcp as off, with the step, errno and the verifier\'s line', async () => {
    const res = await fetch(`${c.url}/readyz`);
    expect(res.status).toBe(200);
    const body = await res.json() as { ready: boolean; waiting: string[]; off: unknown[] };
    expect(body).toMatchObject({ ready: true, waiting: [] });
    expect(body.off).toHaveLength(1);
    expect(body.off[0]).toMatchObject({ sensor: 'tcp', step: 'load', errno: 22, reason: expect.stringMatching(new RegExp(`^${VERIFIER_LINE.source}$`)) });
  });

  it('/metrics: attached 0 and an info series with the reason; its exporter off; the others attached', async () => {
    const m = await scrape(c);
    expect(Object.fromEntries(samples(m, 'bpfwasm_sensor_attached'))).toEqual({ 'sensor="process"': 1, 'sensor="tcp"': 0, 'sensor="oom"': 1 });
    const info = sensorInfo(m);
    expect(info.get('tcp')).toMatchObject({ state: 'failed', reason: `load: ${reason}`, value: 1 });
    expect(info.get('process')).toMatchObject({ state: 'attached', reason: '', value: 1 });
    expect(info.get('syscalls')).toMatchObject({ state: 'disabled', route: '', reason: '', value: 1 });
    expect(info.size).toBe(7); // one per sensor, no stale state
    expect(samples(m, 'bpfwasm_exporter_state').get('exporter="tcp",state="off"')).toBe(1);
    expect(samples(m, 'bpfwasm_exporter_up').get('exporter="tcp"')).toBe(0);
    expect(samples(m, 'bpfwasm_exporter_up').get('exporter="process"')).toBe(1);
    expect([...m.keys()].filter((k) => k.startsWith('bpfwasm_tcp_'))).toEqual([]);
  });

  it('the helper holds exactly the programs of process and oom, none of tcp', async () => {
    const runs = await waitFor('program run counts', async () => {
      const r = samples(await scrape(c), 'bpfwasm_bpf_program_runs_total');
      return r.size > 0 ? r : undefined;
    });
    const bySensor = [...runs.keys()].map((k) => /^sensor="([^"]+)",program="([^"]+)"$/.exec(k)!.slice(1));
    expect(new Set(bySensor.map(([sensor]) => sensor))).toEqual(new Set(['process', 'oom']));
    expect(helperPrograms(c)).toEqual(bySensor.map(([, program]) => program!).sort());
  });

  it('the process sensor keeps exact counts', async () => {
    const before = samples(await scrape(c), 'bpfwasm_process_exec_total').get('comm="true"') ?? 0;
    const r = spawnSync('/bin/sh', ['-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do /bin/true; done']);
    expect(r.status).toBe(0);
    const after = await waitFor('12 more execs of true', async () => {
      const now = samples(await scrape(c), 'bpfwasm_process_exec_total').get('comm="true"') ?? 0;
      return now - before >= 12 ? now : undefined;
    });
    await new Promise((r) => setTimeout(r, 500)); // a few stats intervals: nothing more arrives
    expect(samples(await scrape(c), 'bpfwasm_process_exec_total').get('comm="true"')).toBe(after);
    expect(after - before).toBe(12);
  });

  it('the log has a warn line per place: the helper\'s, the collector\'s with fields, and the exporter\'s', () => {
    const lines = c.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const warn = lines.filter((l) => l.level === 40);
    expect(warn).toContainEqual(expect.objectContaining({ source: 'helper', msg: `sensor tcp off: load: ${reason}` }));
    expect(warn).toContainEqual(expect.objectContaining({ sensor: 'tcp', step: 'load', errno: 22, reason, msg: `sensor tcp off: load: ${reason}` }));
    expect(warn).toContainEqual(expect.objectContaining({ exporter: 'tcp', msg: `exporter tcp not loaded: sensor tcp is off (load: ${reason})` }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'sensors attached', sensors: ['process', 'oom'], failed: ['tcp'] }));
  });

  it('status (API) gives each sensor\'s state and reason; the CLI prints the reason in full', async () => {
    const client = apiClient(c);
    try {
      const s = await client.status();
      expect(s.sensors.find((x) => x.name === 'tcp')).toMatchObject({ state: 'failed', attached: false, required: false, reason: `load: ${reason}`, exporters_off: ['tcp'] });
      expect(s.sensors.find((x) => x.name === 'process')).toMatchObject({ state: 'attached', attached: true, reason: '' });
      expect(s.sensors.find((x) => x.name === 'blockio')).toMatchObject({ state: 'disabled' });
      expect(s.exporters.map((e) => e.name)).not.toContain('tcp');
    } finally {
      client.close();
    }
    const r = spawnSync(process.execPath, [CLI, 'status', '--api', `unix:${c.apiSocket}`], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^tcp\s+FAILED\s+\S+\s+0\s/m);
    expect(r.stdout).toMatch(/^process\s+attached\s+\S+\s+\d+\s/m);
    expect(r.stdout).toContain(`\nsensor tcp off: load: ${reason}; exporter tcp not loaded\n`);
  });
});

describe('every sensor off', () => {
  it('the collector still starts, is not ready (503: no sensor is attached), and idles or unloads the exporters that would get nothing', async () => {
    // A user exporter taking only process records: it stays loaded, idle, and says so.
    const src = mkdtempSync(join(tmpdir(), 'bpfwasm-exec-reader-'));
    writeFileSync(join(src, 'exec_reader.c'), `#include "bpfwasm.h"
BPFWASM_STANDARD_EXPORTS
BPFWASM_EXPORT(bpfwasm_init) __s32 bpfwasm_init(void) { return bpfwasm_subscribe(BPFWASM_RECORD_PROCESS_EXEC); }
BPFWASM_EXPORT(bpfwasm_on_batch) __s32 bpfwasm_on_batch(__u32 type, const void *ptr, __u32 len, __u32 count)
{
	(void)type, (void)ptr, (void)len, (void)count;
	return 0;
}
`);
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-user-exporters-'));
    await buildExporter(src, join(dir, 'exec-reader.wasm'));
    const c = await startCollector({
      helper: { path: unloadableSensorHelper('process') },
      sensors: onlySensors({ process: {} }),
      exporters: { dirs: [dir], watch: false },
    });
    try {
      // Started, sensors loaded (or not), exporters loaded: what is left is the reason it is not ready.
      const readyz = await waitFor('/readyz to give its only reason', async () => {
        if (c.proc.exitCode !== null) throw new Error(`collector exited ${c.proc.exitCode}: ${c.output()}`);
        const res = await fetch(`${c.url}/readyz`);
        const body = await res.json() as { ready: boolean; waiting: string[]; off: { sensor: string }[] };
        return res.status === 503 && body.waiting.length === 1 && body.off.length ? body : undefined;
      });
      expect(readyz).toMatchObject({ ready: false, waiting: ['no sensor is attached: every enabled sensor is off (see off)'] });
      expect(readyz.off.map((o) => o.sensor)).toEqual(['process']);
      const m = await scrape(c);
      expect(samples(m, 'bpfwasm_sensor_attached').get('sensor="process"')).toBe(0);
      expect(samples(m, 'bpfwasm_helper_up').get('')).toBe(1);
      const state = samples(m, 'bpfwasm_exporter_state');
      // Both built-ins fed by the process sensor (process and forks) are off; the user's is loaded.
      expect([state.get('exporter="process",state="off"'), state.get('exporter="forks",state="off"'), state.get('exporter="exec-reader",state="loaded"')]).toEqual([1, 1, 1]);
      const log = c.output();
      expect(log).toContain('"msg":"no sensor is attached: only the collector\'s own metrics are exported"');
      expect(log).toMatch(new RegExp(`"msg":"exporter forks not loaded: sensor process is off \\(load: ${VERIFIER_LINE.source}\\)"`));
      expect(log).toMatch(new RegExp(`"msg":"exporter exec-reader idle: every record type it takes comes from a sensor that is off: sensor process is off \\(load: ${VERIFIER_LINE.source}\\)"`));
      const client = apiClient(c);
      try {
        expect((await client.status()).sensors.find((x) => x.name === 'process')).toMatchObject({ state: 'failed', exporters_off: ['forks', 'process'] });
      } finally {
        client.close();
      }
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });
});

describe('a sensor that loads on a later helper start', () => {
  it('is attached again, its exporter loaded again, and no failed state is left', async () => {
    const c = await startCollector({
      helper: { path: unloadableSensorHelper('tcp', { once: true }) },
      sensors: onlySensors({ process: {}, tcp: {} }),
    });
    try {
      await waitReady(c);
      expect(samples(await scrape(c), 'bpfwasm_exporter_state').get('exporter="tcp",state="off"')).toBe(1);
      process.kill(helperPid(c), 'SIGKILL');
      const m = await waitFor('tcp attached by the restarted helper', async () => {
        const res = await fetch(`${c.url}/readyz`);
        const now = await scrape(c);
        return res.status === 200 && samples(now, 'bpfwasm_sensor_attached').get('sensor="tcp"') === 1 ? now : undefined;
      });
      expect(await (await fetch(`${c.url}/readyz`)).json()).toEqual({ ready: true, waiting: [], off: [] });
      expect(sensorInfo(m).get('tcp')).toMatchObject({ state: 'attached', reason: '', value: 1 });
      expect(samples(m, 'bpfwasm_exporter_state').get('exporter="tcp",state="loaded"')).toBe(1);
      expect(samples(m, 'bpfwasm_exporter_state').get('exporter="tcp",state="off"')).toBe(0);
      expect(c.output()).toContain('exporter tcp loaded again: its sensor is attached');
      expect(samples(m, 'bpfwasm_exporter_up').get('exporter="tcp"')).toBe(1);
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });
});

describe('a required sensor', () => {
  it('that the kernel refuses stops start-up at once, with the verifier\'s line', async () => {
    const started = Date.now();
    const c = await startCollector({
      helper: { path: unloadableSensorHelper('tcp') },
      sensors: onlySensors({ process: {}, tcp: { required: true } }),
    });
    expect(await c.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000); // not the 30 s readiness timeout, nor restarts
    expect(c.output()).toMatch(new RegExp(`^bpfwasm: bpfwasm-helper: required sensor 'tcp' failed to load: ${VERIFIER_LINE.source}$`, 'm'));
    expect(c.output()).not.toContain('restarting');
  });
});

function helperPid(c: RunningCollector): number {
  const children = readFileSync(`/proc/${c.proc.pid}/task/${c.proc.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  const pid = children.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'bpfwasm-helper');
  if (!pid) throw new Error('the collector has no helper process');
  return pid;
}
