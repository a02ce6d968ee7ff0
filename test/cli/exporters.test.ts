// `bpfwasm exporters …` through the real CLI (dist/), as a user runs it: help, keys, signing
// and verifying (exporters-new.test.ts: scaffolding and building).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshTmpDir } from '../exporters/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const BUILT = join(ROOT, 'exporters', 'build', 'forks.wasm');

function bpfwasm(args: string[], cwd?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'exporters', ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A failure: exit 1 and exactly one line on stderr, which is returned. */
/** Exit status 1 for a failure, 2 for a usage error (commander's, in the same one-line form). */
function fails(args: string[], cwd?: string, status = 1): string {
  const r = bpfwasm(args, cwd);
  expect(r.code, r.stdout + r.stderr).toBe(status);
  expect(r.stderr.endsWith('\n') && r.stderr.split('\n').length === 2, `not one line: ${JSON.stringify(r.stderr)}`).toBe(true);
  return r.stderr.trimEnd();
}

function ok(args: string[], cwd?: string): string {
  const r = bpfwasm(args, cwd);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('bpfwasm exporters: help', () => {
  it.each(['keygen', 'sign', 'verify', 'new', 'build'])('%s --help describes it with examples', (sub) => {
    const out = ok([sub, '--help']);
    expect(out).toContain(`Usage: bpfwasm exporters ${sub}`);
    expect(out).toMatch(new RegExp(`Examples:\\n  \\$ bpfwasm exporters ${sub} `));
  });
});

describe('bpfwasm exporters keygen, sign, verify', () => {
  let dir: string;
  let module: string;
  beforeAll(() => {
    dir = freshTmpDir('cli-sign');
    module = join(dir, 'forks.wasm');
    copyFileSync(BUILT, module);
  });

  it('keygen writes a 0600 private key and a public key, and never overwrites without --force', () => {
    const out = ok(['keygen', '--out', join(dir, 'keys')]);
    const id = /key id ([0-9a-f]{16})/.exec(out)?.[1];
    expect(id).toBeDefined();
    expect(statSync(join(dir, 'keys', 'signing.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys', 'signing.pub')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'keys', 'signing.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(join(dir, 'keys', 'signing.pub'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(out).toContain(`trustedKeys: [${join(dir, 'keys', 'signing.pub')}]`);

    const before = readFileSync(join(dir, 'keys', 'signing.key'), 'utf8');
    expect(fails(['keygen', '--out', join(dir, 'keys')]))
      .toBe(`bpfwasm: ${join(dir, 'keys', 'signing.key')} already exists (use --force to replace it, or --name)`);
    expect(readFileSync(join(dir, 'keys', 'signing.key'), 'utf8')).toBe(before);

    // --force makes a new pair; a private key file left world-readable does not stay so.
    chmodSync(join(dir, 'keys', 'signing.key'), 0o644);
    ok(['keygen', '--out', join(dir, 'keys'), '--force']);
    expect(readFileSync(join(dir, 'keys', 'signing.key'), 'utf8')).not.toBe(before);
    expect(statSync(join(dir, 'keys', 'signing.key')).mode & 0o777).toBe(0o600);
    ok(['keygen', '--out', join(dir, 'keys'), '--name', 'other']);
  });

  it('sign writes MODULE.wasm.sig, and verify accepts it with the right key only', () => {
    const keys = join(dir, 'keys');
    expect(ok(['sign', module, '--key', join(keys, 'signing.key')])).toBe(`signed ${module} → ${module}.sig\n`);
    expect(readFileSync(`${module}.sig`, 'utf8')).toMatch(/^bpfwasm-signature-v1 ed25519\nkey-id: [0-9a-f]{16}\nsignature: \S{88}\n$/);
    expect(ok(['verify', module, '--key', join(keys, 'signing.pub')])).toMatch(/: signature verified \(key [0-9a-f]{16}, /);
    // Several keys: any one of them may have signed it.
    ok(['verify', module, '--key', join(keys, 'other.pub'), join(keys, 'signing.pub')]);
    expect(fails(['verify', module, '--key', join(keys, 'other.pub')]))
      .toMatch(/^bpfwasm: forks: signed by unknown key [0-9a-f]{16}: not one of the trusted keys/);
  });

  it('verify reads the trusted keys of a collector config', () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, stringify({ exporters: { requireSignatures: true, trustedKeys: ['keys/signing.pub'] } }));
    expect(ok(['verify', module, '--config', config])).toContain('signature verified');
  });

  it('verify says tampered, unsigned or malformed, and exits 1', () => {
    const pub = join(dir, 'keys', 'signing.pub');
    const tampered = join(dir, 'changed.wasm');
    const bytes = readFileSync(module);
    bytes[100]! ^= 0xff;
    writeFileSync(tampered, bytes);
    copyFileSync(`${module}.sig`, `${tampered}.sig`);
    expect(fails(['verify', tampered, '--key', pub])).toMatch(/^bpfwasm: changed: tampered: the module does not match its signature by trusted key/);

    const unsigned = join(dir, 'unsigned.wasm');
    copyFileSync(module, unsigned);
    expect(fails(['verify', unsigned, '--key', pub]))
      .toBe(`bpfwasm: unsigned: unsigned (no ${unsigned}.sig) and exporters.requireSignatures is on`);

    writeFileSync(`${unsigned}.sig`, 'garbage\n');
    expect(fails(['verify', unsigned, '--key', pub]))
      .toBe(`bpfwasm: unsigned: ${unsigned}.sig is not a bpfwasm signature: its first line is not "bpfwasm-signature-v1 ed25519"`);
  });

  it('refuses bad input with one line', () => {
    const keys = join(dir, 'keys');
    expect(fails(['sign', module, '--key', join(keys, 'signing.pub')])).toMatch(/^bpfwasm: \S+signing\.pub is not a PEM private key/);
    expect(fails(['sign', join(keys, 'signing.pub'), '--key', join(keys, 'signing.key')])).toMatch(/is not a WebAssembly module/);
    expect(fails(['sign', join(dir, 'missing.wasm'), '--key', join(keys, 'signing.key')])).toMatch(/^bpfwasm: cannot read module \S+missing\.wasm: ENOENT$/);
    expect(fails(['verify', module])).toMatch(/^bpfwasm: no public key: give --key/);
    expect(fails(['verify', module, '--key', join(keys, 'signing.key')])).toMatch(/is not a public key/);
    expect(fails(['sign', module], undefined, 2)).toBe("bpfwasm: required option '-k, --key <private>' not specified");
  });
});
