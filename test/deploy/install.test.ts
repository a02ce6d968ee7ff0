// README's install section as written, in a fresh clone: `setup.sh` installs no test-only package,
// `bpfwasm` is on PATH after `npm link`, a second set-up with nothing changed runs no compiler, and
// `npm start` brings the collector up.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, freePort, waitFor } from '../integration/support/collector.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const INSTALL = /^## Install\n[\s\S]*?```sh\n([\s\S]*?)```/m.exec(README)![1]!;
const TEST_PACKAGES = /^TEST_PACKAGES=\(([^)]*)\)/m.exec(readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8'))![1]!.split(/\s+/).filter(Boolean);

const work = mkdtempSync(join(tmpdir(), 'bpfwasm-install-'));
const clone = join(work, 'bpfwasm');
const shims = join(work, 'shims');
const aptLog = join(work, 'apt-get.log');
// npm's global prefix in the temp dir: `npm link` must not repoint this machine's own bpfwasm.
const env = { ...process.env, PATH: `${shims}:${join(work, 'prefix/bin')}:${process.env.PATH}`, npm_config_prefix: join(work, 'prefix') };
let readme: ReturnType<typeof spawnSync>;

beforeAll(() => {
  execFileSync('git', ['clone', '--quiet', ROOT, clone]);
  // The npm registry is not what is tested: the checkout's node_modules stand in for `npm ci`'s
  // download. Nor is the BPF and exporter build (CI's own fresh clone builds it): its outputs are
  // copied, all stamped one time after the checkout, so make and build-exporters find them current.
  // tsc is left to run: it is what a start must skip when nothing changed.
  cpSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  const now = new Date();
  utimesSync(join(clone, 'node_modules/.package-lock.json'), now, now);
  for (const dir of ['ebpf/build', 'exporters/build']) {
    cpSync(join(ROOT, dir), join(clone, dir), { recursive: true });
    for (const f of execFileSync('find', [join(clone, dir)], { encoding: 'utf8' }).trim().split('\n')) utimesSync(f, now, now);
  }
  // As on a machine that has none of the test packages: dpkg-query says they are missing, and
  // apt-get records what set-up would install.
  execFileSync('mkdir', ['-p', shims]);
  writeFileSync(join(shims, 'dpkg-query'), `#!/bin/sh\ncase " ${TEST_PACKAGES.join(' ')} " in *" $4 "*) echo "unknown ok not-installed"; exit 0;; esac\nexec /usr/bin/dpkg-query "$@"\n`);
  writeFileSync(join(shims, 'apt-get'), `#!/bin/sh\necho "$@" >> ${aptLog}\n`);
  chmodSync(join(shims, 'dpkg-query'), 0o755);
  chmodSync(join(shims, 'apt-get'), 0o755);
  readme = spawnSync('bash', ['-euo', 'pipefail', '-c', INSTALL], { cwd: clone, env, encoding: 'utf8', timeout: 10 * 60_000 });
}, 11 * 60_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("README's install section in a fresh clone", () => {
  it('runs as written, bpfwasm on PATH, without installing any test-only package', () => {
    expect(readme.status, `${readme.stdout}\n${readme.stderr}`).toBe(0);
    expect(readme.stdout).toMatch(/^0\.1\.0$/m); // bpfwasm --version
    expect(existsSync(aptLog) ? readFileSync(aptLog, 'utf8') : '').toBe('');
    expect(existsSync(join(clone, 'dist/src/cli.js'))).toBe(true);
  });

  it('rebuilds nothing when nothing changed: no tsc on the second set-up', () => {
    const cli = join(clone, 'dist/src/cli.js');
    const before = statSync(cli).mtimeMs;
    const t0 = Date.now();
    const again = spawnSync('bash', ['scripts/setup.sh'], { cwd: clone, env, encoding: 'utf8' });
    expect(again.status, again.stderr).toBe(0);
    expect(statSync(cli).mtimeMs).toBe(before);
    console.log(`install: second set-up with nothing changed ${Date.now() - t0} ms`);
    // A changed source is compiled again.
    const src = join(clone, 'src/cli.ts');
    utimesSync(src, new Date(), new Date(Date.now() + 2000));
    const changed = spawnSync('bash', ['scripts/setup.sh'], { cwd: clone, env, encoding: 'utf8' });
    expect(changed.status, changed.stderr).toBe(0);
    expect(statSync(cli).mtimeMs).toBeGreaterThan(before);
  }, 5 * 60_000);

  it('npm start brings the collector up', async () => {
    const port = await freePort();
    const config = join(work, 'config.yaml');
    writeFileSync(config, `listen: { host: 127.0.0.1 }\napi: { socket: ${join(work, 'api.sock')} }\nsensors: { process: { enabled: true }, tcp: { enabled: false }, blockio: { enabled: false }, runqlat: { enabled: false }, oom: { enabled: false } }\n`);
    const start = spawn('npm', ['start', '--', '--port', String(port), '--config', config], { cwd: clone, env, stdio: 'ignore', detached: true });
    try {
      await waitFor('npm start /readyz', async () => {
        if (start.exitCode !== null) throw new Error(`npm start exited ${start.exitCode}`);
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined;
      }, 60_000, 250);
    } finally {
      process.kill(-start.pid!, 'SIGTERM');
    }
  }, 90_000);
});
