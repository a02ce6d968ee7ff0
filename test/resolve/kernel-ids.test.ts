// The premise of resolve kinds 4 and 5, checked against the kernel: the cgroup id a BPF program
// reads (bpf_get_current_cgroup_id, in every record header) is the inode number of the cgroup's
// directory in the cgroup2 mount, so the Resolver names it. Loads the real process sensor
// through the helper; a helper that cannot be built or loaded fails this test, never skips it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { ResolveKind, Resolver } from '../../src/resolve/index.js';
import { HelperRun, buildHelper, type EventRecord } from '../support/helper-run.js';

const CGROUP = `/sys/fs/cgroup/unified/bpfwasm-kid-${process.pid}`;

type Exec = EventRecord;

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('cgroup ids from BPF record headers', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-kid-'));
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
    try {
      rmdirSync(CGROUP);
    } catch {
      // removed by the test
    }
  });

  it('resolve to the path and label of the cgroup the process ran in', async () => {
    buildHelper();
    mkdirSync(CGROUP);
    const helper = new HelperRun(['--sensors', 'process', '--poll-ms', '5']);
    const execs = (): Exec[] => helper.records.filter((r) => r.type === RecordType.process_exec);
    try {
      await helper.waitReady();
      // A shell moves itself into the cgroup, then execs a uniquely named binary there.
      const name = `kid${process.pid.toString(36)}${Date.now().toString(36).slice(-5)}`.slice(0, 15);
      copyFileSync('/bin/true', join(tmp, name));
      execFileSync('/bin/sh', ['-c', `echo $$ > ${CGROUP}/cgroup.procs && exec ${join(tmp, name)}`]);
      const outside = `${name.slice(0, 12)}out`;
      copyFileSync('/bin/true', join(tmp, outside));
      execFileSync(join(tmp, outside));
      const inside = await helper.waitFor('the exec inside the cgroup', () => execs().find((e) => e.comm === name));
      const root = await helper.waitFor('the exec outside it', () => execs().find((e) => e.comm === outside));

      const resolver = new Resolver({ rules: [{ match: '^/bpfwasm-kid-([0-9]+)$', label: 'kid-$1' }] });
      expect(resolver.resolve(ResolveKind.CGROUP_PATH, inside.cgroupId)).toBe(`/bpfwasm-kid-${process.pid}`);
      expect(resolver.resolve(ResolveKind.CGROUP_WORKLOAD, inside.cgroupId)).toBe(`kid-${process.pid}`);
      expect(resolver.resolve(ResolveKind.CGROUP_PATH, root.cgroupId)).toBe('/'); // vitest runs in 0::/
      expect(resolver.stats().cgroup).toMatchObject({ rescans: 1, unknown: 0 });
    } finally {
      await helper.stop('stdin');
    }
    // The shell has exited; its cgroup empties as the kernel reaps it.
    await waitFor('the cgroup to empty', () => {
      try {
        rmdirSync(CGROUP);
        return true;
      } catch {
        return undefined;
      }
    });
  });
});
