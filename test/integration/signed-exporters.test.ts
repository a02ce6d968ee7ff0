// A running collector with exporters.requireSignatures refuses unsigned, tampered and
// unknown-key modules from its exporter directories (exporter_up 0, the reason logged), loads
// the validly signed one, and keeps its built-ins.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signModule } from '../../src/exporters/host/signing.js';
import { CLI, ROOT, onlySensors, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';

describe('signed exporters in a running collector', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-signed-'));
    const mods = join(dir, 'exporters');
    execFileSync('mkdir', ['-p', mods]);
    const trusted = generateKeyPairSync('ed25519');
    const stranger = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'trusted.pub'), trusted.publicKey.export({ type: 'spki', format: 'pem' }));
    // One real module (the built-in forks exporter) under four names, signed four ways.
    const wasm = join(ROOT, 'exporters', 'build', 'forks.wasm');
    const bytes = readFileSync(wasm);
    const put = (name: string, sig?: Buffer, body: Buffer = bytes) => {
      writeFileSync(join(mods, `${name}.wasm`), body);
      if (sig) writeFileSync(join(mods, `${name}.wasm.sig`), sig);
    };
    put('good', signModule(bytes, trusted.privateKey));
    put('unsigned');
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 1]! ^= 1;
    put('tampered', signModule(bytes, trusted.privateKey), tampered);
    put('stranger', signModule(bytes, stranger.privateKey));
    copyFileSync(join(dir, 'trusted.pub'), join(mods, 'not-a-module.pub'));
    // The copies declare the same metric names as the built-in forks exporter: only run them alone.
    c = await startCollector({
      sensors: onlySensors({ process: {} }),
      exporters: { builtin: false, dirs: [mods], requireSignatures: true, trustedKeys: [join(dir, 'trusted.pub')] },
    });
    await waitReady(c);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('loads the validly signed module and refuses the others, saying which', async () => {
    const up = await waitFor('exporter_up for every module', async () => {
      const m = samples(await scrape(c), 'bpfwasm_exporter_up');
      return m.size >= 4 ? m : undefined;
    });
    expect(Object.fromEntries(up)).toEqual({
      'exporter="good"': 1, 'exporter="unsigned"': 0, 'exporter="tampered"': 0, 'exporter="stranger"': 0,
    });
    const out = c.output();
    expect(out).toMatch(/good[^\n]*signature verified/);
    expect(out).toMatch(/EXPORTER_UNSIGNED: unsigned: unsigned \(no \S*\/exporters\/unsigned\.wasm\.sig\)/);
    expect(out).toMatch(/tampered: tampered: the module does not match its signature by trusted key/);
    expect(out).toMatch(/stranger: signed by unknown key/);
  });

  it('refuses an unsigned API load too, naming the file the CLI looked for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-apiload-'));
    const module = join(dir, 'wx.wasm');
    copyFileSync(join(ROOT, 'exporters', 'build', 'forks.wasm'), module);
    const r = spawnSync(process.execPath, [CLI, 'exporters', 'load', 'watexec', module, '--api', `unix:${c.apiSocket}`], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`bpfwasm: watexec: unsigned (no ${module}.sig beside the module, and no --sig) and exporters.requireSignatures is on\n`);
  });
});
