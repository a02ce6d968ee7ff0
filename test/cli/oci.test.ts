// `bpfwasm exporters push|pull|inspect` through the real CLI (dist/) against Debian's
// docker-registry: a signed module pushed, inspected, pulled back and verified; clear one-line
// errors for a bad reference, a missing tag and an unreachable registry.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moduleVersion } from '../../src/exporters/host/registry.js';
import { freshTmpDir } from '../exporters/helpers.js';
import { startRegistry } from '../support/registry.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const BUILT = join(ROOT, 'exporters', 'build', 'forks.wasm');

function bpfwasm(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'exporters', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bpfwasm exporters push, inspect, pull', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let dir: string;
  beforeAll(async () => {
    registry = await startRegistry();
    dir = freshTmpDir('cli-oci');
    expect(bpfwasm('keygen', '--out', dir).code).toBe(0);
  });
  afterAll(async () => registry?.stop());

  it('pushes a module signed with --key, inspects it, pulls module and signature back, and they verify', () => {
    const ref = `${registry.host}/bpfwasm/forks:1.0`;
    const pushed = bpfwasm('push', BUILT, ref, '--key', join(dir, 'signing.key'), '--plain-http');
    expect(pushed.stderr).toBe('');
    expect(pushed.stdout).toMatch(new RegExp(`^pushed forks ${moduleVersion(readFileSync(BUILT))} \\(signed\\) → ${ref}@sha256:[0-9a-f]{64}\\n$`));
    const inspected = bpfwasm('inspect', ref, '--plain-http');
    expect(inspected.stdout).toContain(`exporter   forks (ABI 1), version ${moduleVersion(readFileSync(BUILT))}`);
    const out = freshTmpDir('cli-oci-pull');
    const pulled = bpfwasm('pull', ref, '--plain-http', '-o', out);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(readFileSync(join(out, 'forks.wasm')).equals(readFileSync(BUILT))).toBe(true);
    const verified = bpfwasm('verify', join(out, 'forks.wasm'), '--key', join(dir, 'signing.pub'));
    expect(verified.stdout).toMatch(/signature verified/);
  });

  it.each([
    [['inspect', 'forks:1.0'], /^bpfwasm: "forks:1.0" is not an OCI reference: it has no registry/],
    [['inspect', 'REGISTRY/bpfwasm/forks:nope', '--plain-http'], /^bpfwasm: manifest bpfwasm\/forks:nope: not found on /],
    [['pull', '127.0.0.1:1/a/b:c', '--plain-http', '--timeout', '2'], /^bpfwasm: GET 127\.0\.0\.1:1\/v2\/a\/b\/manifests\/c: connect ECONNREFUSED/],
  ])('%j fails with one clear line', (args, message) => {
    const r = bpfwasm(...args.map((a) => a.replace('REGISTRY', registry.host)));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
