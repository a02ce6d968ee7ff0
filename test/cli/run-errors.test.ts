// `bpfwasm run` refusing to start: one `bpfwasm:` line on stderr naming what to fix, exit 1, at
// once (before any sensor loads), and no other library's raw output before it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');

function run(config: string, ...args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-run-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, config.replaceAll('$DIR', dir));
  const started = Date.now();
  const r = spawnSync(process.execPath, [CLI, 'run', '--port', '0', '--config', file, ...args], { encoding: 'utf8', timeout: 30_000 });
  // Log records (JSON lines on stdout) are fine; stderr is for the one error line.
  return { status: r.status, stderr: r.stderr, ms: Date.now() - started, dir };
}

describe('bpfwasm run refusing to start', () => {
  it('names listen.host when it is not a host', () => {
    const r = run('listen:\n  host: "not a host!"\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('bpfwasm: config: listen.host must be an IP address or a host name, got "not a host!"\n');
    // A bad flag is a usage error: the same one-line form, exit status 2.
    const flag = run('', '--host', 'not a host!');
    expect(flag.status).toBe(2);
    expect(flag.stderr).toBe("bpfwasm: option '--host <address>' argument 'not a host!' is invalid. must be an IP address or a host name\n");
  });

  it('names listen.host and says why when it cannot listen there', () => {
    const r = run('listen:\n  host: nosuch.invalid\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^bpfwasm: cannot listen on nosuch\.invalid port 0 \(listen\.host, listen\.port\): the host name (does not resolve|cannot be resolved now \(DNS unavailable\))\n$/);
  });

  it('refuses an api.socket under /proc at once with the reason (Node\'s recursive mkdir spun there at 100% CPU)', () => {
    const r = run('api:\n  socket: /proc/bpfwasm-test/api.sock\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('bpfwasm: cannot create /proc/bpfwasm-test for api.socket: ENOENT on /proc/bpfwasm-test; set api.socket to a writable path, or api.enabled: false\n');
    expect(r.ms).toBeLessThan(15_000);
  });

  it('prints no raw grpc-js line before its own when the API cannot bind', () => {
    // sysfs refuses sockets even to root: the bind fails as it does without permission.
    const r = run('api:\n  socket: /sys/kernel/bpfwasm-test.sock\n');
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.stderr).toMatch(/^bpfwasm: the API cannot listen on unix:\/sys\/kernel\/bpfwasm-test\.sock: .*E(ACCES|PERM).*\n$/);
  });
});
