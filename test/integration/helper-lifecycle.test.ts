// The collector keeps a dead helper's absence visible and brings it back; privilege problems
// are one clear line, not a stack trace.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, samples, scrape, startCollector, waitFor, waitReady } from './support/collector.js';

const HELPER = join(ROOT, 'ebpf/build/bpfwasm-helper');

/** A copy of the helper that user nobody can run wherever the checkout lives, plus a wrapper that drops to nobody. */
function unprivilegedHelper(): { binary: string; wrapper: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-nobody-'));
  chmodSync(dir, 0o755);
  const binary = join(dir, 'bpfwasm-helper');
  copyFileSync(HELPER, binary);
  chmodSync(binary, 0o755);
  const wrapper = join(dir, 'as-nobody');
  writeFileSync(wrapper, `#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all ${binary} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return { binary, wrapper };
}

function helperPidOf(collectorPid: number): number | undefined {
  const children = readFileSync(`/proc/${collectorPid}/task/${collectorPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return children.map(Number).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'bpfwasm-helper';
    } catch {
      return false;
    }
  });
}

describe('helper lifecycle', () => {
  it('spawns the helper before the HTTP server loads and listens', async () => {
    // Their synchronous loading would hold the spawn back (the helper then loaded its sensors only after the API listened).
    const c = await startCollector({ log: { level: 'info', format: 'json' } });
    try {
      await waitReady(c);
      const lines = c.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string });
      const at = (what: (msg: string) => boolean) => lines.findIndex((l) => what(l.msg ?? ''));
      const spawned = at((m) => m === 'helper started');
      expect(spawned).toBeGreaterThanOrEqual(0);
      expect(at((m) => m.startsWith('Server listening at'))).toBeGreaterThan(spawned);
    } finally {
      await c.stop();
    }
  });

  it('restarts a killed helper with backoff, counts the restart, and keeps counting', async () => {
    const c = await startCollector({ helper: { statsMs: 200 } });
    try {
      await waitReady(c);
      const first = helperPidOf(c.proc.pid!);
      expect(first).toBeDefined();
      process.kill(first!, 'SIGKILL');
      await waitFor('a new helper', async () => {
        const pid = helperPidOf(c.proc.pid!);
        return pid && pid !== first ? pid : undefined;
      });
      await waitReady(c);
      const m = await scrape(c);
      expect(samples(m, 'bpfwasm_helper_restarts_total').get('')).toBe(1);
      expect(samples(m, 'bpfwasm_helper_up').get('')).toBe(1);

      // Counting resumes, exactly, on the new helper.
      const before = samples(m, 'bpfwasm_process_exec_total').get('comm="true"') ?? 0;
      const r = spawnSync('/bin/sh', ['-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done']);
      expect(r.status).toBe(0);
      await waitFor('10 more execs of true', async () => {
        const now = samples(await scrape(c), 'bpfwasm_process_exec_total').get('comm="true"') ?? 0;
        return now - before >= 10 ? now : undefined;
      });
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });

  it('a stopped helper makes /readyz 503 with the reason and bpfwasm_helper_up 0, until its frames flow again', async () => {
    const c = await startCollector({ helper: { statsMs: 200 } });
    try {
      await waitReady(c);
      const helper = helperPidOf(c.proc.pid!)!;
      process.kill(helper, 'SIGSTOP');
      const stalled = Date.now();
      try {
        // 200 ms stats: stalled after 2 s without a frame.
        const body = await waitFor('/readyz 503', async () => {
          const res = await fetch(`${c.url}/readyz`);
          return res.status === 503 ? await res.json() as { ready: boolean; waiting: string[] } : undefined;
        }, 10_000);
        expect(Date.now() - stalled).toBeGreaterThanOrEqual(1900);
        expect(body.ready).toBe(false);
        expect(body.waiting).toHaveLength(1);
        expect(body.waiting[0]).toMatch(/^helper stalled: no frame for \d+\.\d s \(it sends STATS every 200 ms\)$/);
        const m = await scrape(c);
        expect(samples(m, 'bpfwasm_helper_up').get('')).toBe(0);
        expect(samples(m, 'bpfwasm_helper_stalls_total').get('')).toBe(1);
      } finally {
        process.kill(helper, 'SIGCONT');
      }
      await waitReady(c);
      const m = await scrape(c);
      expect(samples(m, 'bpfwasm_helper_up').get('')).toBe(1);
      expect(samples(m, 'bpfwasm_helper_stalls_total').get('')).toBe(1);
      expect(samples(m, 'bpfwasm_helper_restarts_total').get('')).toBe(0);
      expect(c.output()).toContain('helper stalled: no frame from it; events are not arriving');
      expect(c.output()).toContain('helper frames flow again');
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });

  it('without CAP_BPF the helper exits 3 with one line naming the remedy', () => {
    const r = spawnSync(unprivilegedHelper().binary, ['--sensors', 'process'], { uid: 65534, gid: 65534, encoding: 'utf8', input: '' });
    expect(r.status).toBe(3);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^bpfwasm-helper: .*CAP_BPF.*CAP_PERFMON/);
  });

  it('`bpfwasm run` with an unprivileged helper exits non-zero with the helper\'s remedy line', async () => {
    const c = await startCollector({ log: { level: 'silent' }, helper: { path: unprivilegedHelper().wrapper } });
    expect(await c.exited).toBe(1);
    expect(c.output()).toMatch(/^bpfwasm: bpfwasm-helper: .*CAP_BPF/m);
  });
});
