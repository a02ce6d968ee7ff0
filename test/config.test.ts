import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, defaultConfig, helperArgs, loadConfig } from '../src/config.js';

describe('config', () => {
  it('defaults to port 9745 with the process sensor and built-in exporters', () => {
    const c = defaultConfig();
    expect(c.listen.port).toBe(9745);
    expect(c.sensors.process.enabled).toBe(true);
    expect(c.exporters.builtin).toBe(true);
    expect(helperArgs(c)).toEqual(['--sensors', 'process', '--ring-bytes', '4194304', '--wakeup-bytes', '65536',
      '--poll-ms', '5', '--stats-ms', '1000', '--batch-bytes', '65536']);
  });

  it('loads YAML over the defaults and resolves paths against the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'listen:\n  port: 9999\nexporters:\n  dirs: [mine]\nhelper:\n  pollMs: 20\n');
    const c = loadConfig(file);
    expect(c.listen.port).toBe(9999);
    expect(c.listen.host).toBe('0.0.0.0');
    expect(c.helper.pollMs).toBe(20);
    expect(c.exporters.dirs).toEqual([join(dir, 'mine')]);
  });

  it.each([
    [{ listen: { prot: 1 } }, 'config: listen.prot is not a known setting (known: host, port)'],
    [{ listen: { port: 70000 } }, 'config: listen.port must be an integer from 0 to 65535, got 70000'],
    [{ helper: { ringBytes: 5000 } }, 'config: helper.ringBytes must be a power of two, got 5000'],
    [{ sensors: { process: { enabled: 'yes' } } }, 'config: sensors.process.enabled must be true or false, got "yes"'],
    [{ sensors: { process: { enabled: false } } }, 'config: sensors must enable at least one sensor'],
    [{ exporters: { dirs: 'x' } }, 'config: exporters.dirs must be a list of paths'],
    [{ helper: { wakeupBytes: 8192, ringBytes: 4096 } }, 'config: helper.wakeupBytes must be smaller than helper.ringBytes (4096)'],
    [[1], 'config: the document must be a mapping'],
  ])('rejects %j with a message naming the key', (doc, message) => {
    expect(() => buildConfig(doc)).toThrow(message);
  });

  it('names the file when it cannot be read or parsed', () => {
    expect(() => loadConfig('/nonexistent/bpfwasm.yaml')).toThrow(/cannot read \/nonexistent\/bpfwasm.yaml/);
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-config-'));
    writeFileSync(join(dir, 'bad.yaml'), 'listen: [');
    expect(() => loadConfig(join(dir, 'bad.yaml'))).toThrow(/bad.yaml is not valid YAML/);
  });
});
