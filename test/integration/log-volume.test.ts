// A quiet host's log volume at the default config and level: for a minute after start-up, with
// the background churn of a quiet host (shell loops whose grep and readlink exit 1, short-lived
// commands, loopback connections), the collector writes at most 10 lines. On a terminal-less
// stdout they stay JSON lines.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, waitReady, type RunningCollector } from './support/collector.js';

const WINDOW_MS = 60_000;
const MAX_LINES_PER_MINUTE = 10;

// About 20 processes a second: most exit 0, grep and readlink exit 1 (the bulk of the old noise),
// one in ten is a loopback connection through bash's /dev/tcp that is refused or closed.
const CHURN = `
  while :; do
    grep -q nothing-here /etc/hostname; readlink /etc/hostname; true; ls / > /dev/null
    (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null
    sleep 0.2
  done`;

describe('log volume on a quiet host', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    c = await startCollector({});
    await waitReady(c);
  });

  afterAll(async () => {
    expect(await c.stop()).toBe(0);
  });

  it(`stays at or under ${MAX_LINES_PER_MINUTE} lines a minute at the default level`, async () => {
    const before = c.output().split('\n').filter(Boolean).length;
    const churn = spawn('/bin/bash', ['-c', CHURN], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, WINDOW_MS));
    } finally {
      churn.kill('SIGKILL');
    }
    const lines = c.output().split('\n').filter(Boolean).slice(before);
    console.log(`log lines in ${WINDOW_MS / 1000} s of background churn: ${lines.length}`);
    expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(MAX_LINES_PER_MINUTE);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  }, WINDOW_MS + 30_000);
});
