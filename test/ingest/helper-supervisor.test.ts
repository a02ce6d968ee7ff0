// The supervisor against real child processes (small shell scripts standing in for the helper).
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HelperSupervisor } from '../../src/ingest/helper-supervisor.js';

function script(body: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bpfwasm-sup-')), 'helper.sh');
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function supervise(path: string) {
  const exits: { code: number | null; willRestart: boolean }[] = [];
  const stderr: string[] = [];
  const buffers = new Set<ArrayBufferLike>();
  /** How much output had been handed on when each exit was reported. */
  const bytesAtExit: number[] = [];
  let data = '';
  const sup = new HelperSupervisor({
    path, args: [],
    onData: (c) => {
      buffers.add(c.buffer);
      data += c.toString();
    },
    onStreamEnd: () => {},
    onStderr: (l) => stderr.push(l),
    onExit: (code, _s, willRestart) => {
      exits.push({ code, willRestart });
      bytesAtExit.push(data.length);
    },
    onSpawn: () => {},
    minBackoffMs: 20, maxBackoffMs: 40,
  });
  return { sup, exits, stderr, buffers, bytesAtExit, data: () => data };
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('HelperSupervisor', () => {
  it('restarts a helper that crashes, with backoff, and counts each restart', async () => {
    const { sup, exits, data } = supervise(script('echo run; exit 9'));
    sup.start();
    await until(() => exits.length >= 3);
    await sup.stop();
    expect(exits.slice(0, 3).every((e) => e.code === 9 && e.willRestart)).toBe(true);
    expect(sup.restarts).toBeGreaterThanOrEqual(3);
    expect(data()).toMatch(/^(run\n){3,}$/);
  });

  it.each([1, 2, 3])('stops for good on fatal exit code %i and keeps its last stderr line', async (code) => {
    const { sup, exits } = supervise(script(`echo "bpfwasm-helper: reason $0" >&2; exit ${code}`));
    sup.start();
    await until(() => exits.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(exits).toEqual([{ code, willRestart: false }]);
    expect(sup.fatal?.message).toMatch(/^bpfwasm-helper: reason /);
    expect(sup.restarts).toBe(0);
  });

  it('reports a binary that cannot be started, once, without a restart loop', async () => {
    const { sup, exits } = supervise('/nonexistent/bpfwasm-helper');
    sup.start();
    await until(() => exits.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(exits).toHaveLength(1);
    expect(sup.fatal?.message).toMatch(/cannot start helper \/nonexistent\/bpfwasm-helper: spawn .*ENOENT/);
  });

  it('stop() closes stdin and the helper exits on EOF', async () => {
    const { sup, exits } = supervise(script('cat >/dev/null; exit 0'));
    sup.start();
    await new Promise((r) => setTimeout(r, 100));
    await sup.stop();
    expect(exits).toEqual([{ code: 0, willRestart: false }]);
  });

  it('reads every byte of a large output, in order, into one reused buffer, and reports the exit after the last byte', async () => {
    // 4 MiB of numbered lines: many reads, each into the same memory.
    const { sup, exits, buffers, bytesAtExit, data } = supervise(script('seq 1 600000'));
    sup.start();
    await until(() => exits.length >= 1);
    await sup.stop();
    const lines = data().split('\n');
    expect(lines.length).toBe(600001);
    expect(lines[0]).toBe('1');
    expect(lines[599999]).toBe('600000');
    expect(bytesAtExit[0]).toBe(data().length);
    expect(buffers.size).toBe(1);
  });

  it('holdFrames leaves the output unread until releaseFrames', async () => {
    const { sup, exits, data } = supervise(script('echo early; cat >/dev/null'));
    sup.start(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(data()).toBe('');
    sup.releaseFrames();
    await until(() => data() === 'early\n');
    await sup.stop();
    expect(exits).toEqual([{ code: 0, willRestart: false }]);
  });
});
