// Hot reload and shadow rollout in a running collector on the real kernel, driven the way a
// user does it: the `bpfwasm exporters` CLI over the gRPC API. Known processes run while the
// built-in process exporter is swapped 20 times, run beside a candidate, and promoted; every
// exec is counted exactly once on /metrics, and the candidate counts what it saw on /metrics/shadow.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moduleVersion } from '../../src/exporters/host/registry.js';
import { CLI, ROOT, onlySensors, parseExposition, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { uniqueBinary } from './support/processes.js';

const PROCESS_WASM = readFileSync(join(ROOT, 'exporters/build/process.wasm'));

/** The built-in module with a custom section appended: a new version that behaves the same. */
function variant(tag: string): Uint8Array {
  const body = Buffer.concat([Buffer.from([4]), Buffer.from('test'), Buffer.from(tag)]);
  return Buffer.concat([PROCESS_WASM, Buffer.from([0, body.length]), body]);
}

describe('exporter rollout through the CLI, on the real kernel', () => {
  let c: RunningCollector;
  let dir: string;
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args, '--api', `unix:${c.apiSocket}`], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const execs = async (comm: string, path = '/metrics') => {
    const res = await fetch(`${c.url}${path}`);
    const all = parseExposition(await res.text());
    let n = 0;
    for (const [k, v] of all) if (k.startsWith('bpfwasm_process_exec_total{') && k.includes(`comm="${comm}"`)) n += v;
    return n;
  };
  /** Runs `path` `times` times in a shell loop, in the background. */
  const run = (path: string, times: number) => new Promise<void>((resolve, reject) => {
    const sh = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${times} ]; do "${path}"; i=$((i+1)); sleep 0.005; done`], { stdio: 'ignore' });
    sh.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });

  beforeAll(async () => {
    c = await startCollector({ sensors: onlySensors({ process: {} }), exporters: { queueBatches: 4096 } });
    await waitReady(c);
    dir = mkdtempSync(join(tmpdir(), 'bpfwasm-rollout-'));
  });

  afterAll(async () => {
    if (c) expect(await c.stop()).toBe(0);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('20 hot swaps while known processes run throughout: every exec counted once, no drop, no reset', async () => {
    const bin = uniqueBinary('/bin/true', 'bwr');
    // Runs until the swaps are done; one byte per process run tells how many ran.
    const stop = join(dir, 'stop');
    const count = join(dir, 'count');
    const load = new Promise<void>((resolve, reject) => {
      const sh = spawn('/bin/sh', ['-c', `while [ ! -e "${stop}" ]; do "${bin.path}"; printf x >> "${count}"; sleep 0.005; done`], { stdio: 'ignore' });
      sh.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    });
    await waitFor('the load to start', async () => (existsSync(count) ? true : undefined));
    for (let i = 0; i < 20; i++) {
      const file = join(dir, `v${i}.wasm`);
      writeFileSync(file, variant(`v${i}`));
      const r = cli('exporters', 'load', 'process', file);
      expect(r.err, `swap ${i}`).toBe('');
      expect(r.code, `swap ${i}`).toBe(0);
    }
    writeFileSync(stop, '');
    await load;
    const ran = statSync(count).size;
    expect(ran).toBeGreaterThan(100);
    await waitFor(`${ran} execs on /metrics`, async () => ((await execs(bin.comm)) >= ran ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(await execs(bin.comm)).toBe(ran);
    const m = await scrape(c);
    expect(samples(m, 'bpfwasm_exporter_reloads_total').get('exporter="process",result="ok"')).toBe(20);
    for (const [labels, v] of samples(m, 'bpfwasm_exporter_dropped_events_total')) if (labels.includes('exporter="process"')) expect(v, labels).toBe(0);
    const list = JSON.parse(cli('exporters', 'list', '--output', 'json').out) as { name: string; current: { version: string } }[];
    expect(list.find((e) => e.name === 'process')!.current.version).toBe(moduleVersion(variant('v19')));
  });

  it('a broken version is refused with the reason, and the running one keeps counting', async () => {
    const file = join(dir, 'broken.wasm');
    writeFileSync(file, PROCESS_WASM.subarray(0, 1000));
    const r = cli('exporters', 'load', 'process', file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^bpfwasm: .*process: not a valid WebAssembly module/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    // FILE.sig beside the module is its signature without --sig: a malformed one refuses the load.
    const signed = join(dir, 'with-sig.wasm');
    writeFileSync(signed, variant('with-sig'));
    writeFileSync(`${signed}.sig`, 'not a signature');
    const sig = cli('exporters', 'load', 'process', signed);
    expect(sig.code).toBe(1);
    expect(sig.err.startsWith(`bpfwasm: process: ${signed}.sig is not a bpfwasm signature: `), sig.err).toBe(true);
    const bin = uniqueBinary('/bin/true', 'bwb');
    await run(bin.path, 20);
    await waitFor('20 execs', async () => ((await execs(bin.comm)) === 20 ? true : undefined));
  });

  it('a shadow candidate counts the same load on /metrics/shadow; promotion keeps /metrics continuous', async () => {
    const before = uniqueBinary('/bin/true', 'bwp');
    await run(before.path, 50); // seen by the current version only
    const candidate = join(dir, 'candidate.wasm');
    writeFileSync(candidate, variant('candidate'));
    const version = moduleVersion(variant('candidate'));
    expect(cli('exporters', 'load', 'process', candidate, '--shadow').code).toBe(0);

    const both = uniqueBinary('/bin/true', 'bwq');
    await run(both.path, 100);
    await waitFor('100 execs on /metrics/shadow', async () => ((await execs(both.comm, '/metrics/shadow')) >= 100 ? true : undefined));
    expect(await execs(both.comm)).toBe(100);
    expect(await execs(both.comm, '/metrics/shadow')).toBe(100);
    expect(await execs(before.comm, '/metrics/shadow')).toBe(0);
    const shadowText = await (await fetch(`${c.url}/metrics/shadow`)).text();
    expect(shadowText).toContain(`bpfwasm_process_exec_total{comm="${both.comm}",bpfwasm_exporter_version="${version}"} 100`);

    const status = cli('exporters', 'list');
    expect(status.out).toMatch(new RegExp(`process.*${version}`));
    const promoted = cli('exporters', 'promote', 'process');
    expect(promoted.err).toBe('');
    expect(promoted.code).toBe(0);
    await run(both.path, 30);
    await waitFor('130 execs on /metrics', async () => ((await execs(both.comm)) >= 130 ? true : undefined));
    expect(await execs(both.comm)).toBe(130);
    expect(await execs(before.comm)).toBe(50);
    expect(await execs(both.comm, '/metrics/shadow')).toBe(0);
    const list = JSON.parse(cli('exporters', 'list', '--output', 'json').out) as { name: string; current: { version: string }; shadow?: unknown }[];
    const proc = list.find((e) => e.name === 'process')!;
    expect(proc.current.version).toBe(version);
    expect(proc.shadow ?? null).toBeNull();
  });

  it('abort drops the candidate; promote and abort without one say so', async () => {
    const candidate = join(dir, 'bad-idea.wasm');
    writeFileSync(candidate, variant('bad idea'));
    expect(cli('exporters', 'load', 'process', candidate, '--shadow').code).toBe(0);
    expect(cli('exporters', 'abort', 'process').code).toBe(0);
    expect(parseExposition(await (await fetch(`${c.url}/metrics/shadow`)).text()).size).toBe(0);
    const again = cli('exporters', 'abort', 'process');
    expect(again.code).toBe(1);
    expect(again.err).toBe('bpfwasm: process: no shadow candidate to abort\n');
    expect(cli('exporters', 'promote', 'process').err).toBe('bpfwasm: process: no shadow candidate to promote\n');
  });
});
