// A real container registry for tests: Debian's docker-registry (the CNCF distribution server) on
// 127.0.0.1, with its own config and storage in a temp dir, optionally behind htpasswd basic auth.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../integration/support/collector.js';

export interface Registry {
  /** 127.0.0.1:PORT, for image references (plain HTTP: push and pull with --tls-verify=false). */
  host: string;
  stop(): Promise<void>;
}

/** The registry's token mode: it trusts JWTs signed by the certificate in rootCertBundle (distribution's token spec). */
export interface TokenAuth { realm: string; service: string; issuer: string; rootCertBundle: string }

export async function startRegistry(opts: { htpasswd?: { user: string; password: string }; token?: TokenAuth } = {}): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  // The registry reads only bcrypt entries; apache2-utils' htpasswd writes them.
  if (opts.htpasswd) writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-nbB', opts.htpasswd.user, opts.htpasswd.password]));
  const auth = opts.htpasswd
    ? `auth:\n  htpasswd:\n    realm: bpfwasm-test\n    path: ${join(dir, 'htpasswd')}\n`
    : opts.token
      ? `auth:\n  token:\n    realm: ${opts.token.realm}\n    service: ${opts.token.service}\n    issuer: ${opts.token.issuer}\n    rootcertbundle: ${opts.token.rootCertBundle}\n`
      : '';
  writeFileSync(join(dir, 'config.yml'), `version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: ${join(dir, 'storage')} }
  delete: { enabled: true }
http:
  addr: ${host}
${auth}`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // /v2/ answers 200, or 401 behind auth: either way the registry serves.
    await waitFor(`docker-registry on ${host}`, async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${stderr}`);
      const res = await fetch(`http://${host}/v2/`).catch(() => undefined);
      return res && (res.status === 200 || res.status === 401) ? true : undefined;
    }, 15_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, stop };
}
