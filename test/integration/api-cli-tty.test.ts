// The CLI on a real terminal (tmux): `events` draws a header and fitted rows and exits 0 on
// Ctrl-C leaving no process behind; `profile` shows the collector's progress; `status` a table.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, onlySensors, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { waitForStreams } from './support/api.js';
import { runTimes, uniqueBinary } from './support/processes.js';

const SERVER = `bpfwasm-it-${process.pid}`;
const WIDTH = 120;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SERVER, ...args], { encoding: 'utf8' });
}

/** Starts `argv` in a new detached session of a fixed size. */
function startInTerminal(session: string, argv: string[]): void {
  // tmux 3.3 loses what a pane prints before its first resize settles, so start a moment later;
  // bash prints the exit status (tmux's own pane_dead_status is lost when it misses a SIGCHLD),
  // and on Ctrl-C waits for the CLI, carrying on only if the CLI handled the signal itself.
  const command = ['/bin/bash', '-c', 'sleep 0.3; "$@"; echo "[exit $?]"', 'bash', ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // remain-on-exit keeps the pane, and what it printed, after the command is done.
  tmux('start-server', ';', 'set-option', '-g', 'remain-on-exit', 'on', ';', 'new-session', '-d', '-s', session, '-x', String(WIDTH), '-y', '30', command);
}

/** What the pane shows, with the lines scrolled off it. */
function screen(session: string): string {
  return tmux('capture-pane', '-p', '-S', '-', '-t', session);
}

/** The CLI's exit status once it exited (bash printed it), else undefined. */
function exitStatus(session: string): number | undefined {
  // The terminal echoes Ctrl-C as "^C" at the start of that line.
  const m = /^(?:\^C)?\[exit (\d+)\]$/m.exec(screen(session));
  return m ? Number(m[1]) : undefined;
}

/** Pids of live processes whose command line contains every one of `parts`. */
function processesWith(...parts: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    // Only the CLI's own node process: the tmux server's command line names it too.
    if (cmdline.startsWith(`${process.execPath} `) && parts.every((p) => cmdline.includes(p))) pids.push(Number(entry));
  }
  return pids;
}

describe('the CLI on a real terminal', () => {
  let c: RunningCollector;
  let api: string;

  beforeAll(async () => {
    c = await startCollector({ sensors: onlySensors({ process: {} }) });
    await waitReady(c);
    api = `unix:${c.apiSocket}`;
  });

  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch { /* no server left to kill */ }
    expect(await c.stop()).toBe(0);
  });

  it('events: a header, one fitted row per exec, and Ctrl-C exits 0 with nothing left running', async () => {
    startInTerminal('events', [process.execPath, CLI, 'events', '--type', 'process_exec', '--api', api]);
    await waitFor('the header', async () => (screen('events').includes('TIME(UTC)') ? true : undefined));
    await waitForStreams(c, 1);
    const bin = uniqueBinary('/bin/true', 'bwtty');
    runTimes(bin.path, 5);
    // Its own rows, by the COMM column: the chmod and the shell loop that ran it name it in their arguments.
    const isRow = (l: string) => new RegExp(` process_exec\\s+\\d+ ${bin.comm}\\s`).test(l);
    const shown = await waitFor('5 rows', async () => {
      const s = screen('events');
      return s.split('\n').filter(isRow).length === 5 ? s : undefined;
    });
    const lines = shown.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^TIME\(UTC\)\s+TYPE\s+PID\s+COMM\s+DETAILS$/);
    for (const row of lines.filter(isRow)) {
      // uid, ppid and the arguments (here argv[0], the path); the cgroup follows when the process
      // is not in the root one, or gives way if the line is too long.
      expect(row).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} process_exec\\s+\\d+ ${bin.comm}\\s+uid=0 ppid=\\d+ ${bin.path}(?: cgroup=\\S+)?$`));
    }
    for (const line of lines) expect(line.length).toBeLessThan(WIDTH);

    tmux('send-keys', '-t', 'events', 'C-c');
    expect(await waitFor('the pane to exit', async () => exitStatus('events'), 10_000)).toBe(0);
    expect(processesWith(CLI, 'events', c.apiSocket)).toEqual([]);
    await waitForStreams(c, 0);
  });

  it('profile: the progress bar follows the collector, then the file is written', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'bpfwasm-tty-')), 'x.folded');
    startInTerminal('profile', [process.execPath, CLI, 'profile', '--seconds', '3', '-o', out, '--api', api]);
    const bar = await waitFor('the progress bar', async () => {
      const line = screen('profile').split('\n').find((l) => /^sampling \[.+\] [0-3]\/3 s$/.test(l));
      return line;
    }, 10_000, 100);
    // cli-progress draws with block characters on a UTF-8 terminal, '=' and '-' otherwise.
    expect(bar).toMatch(/^sampling \[[█░=-]{40}\] [0-3]\/3 s$/);
    expect(await waitFor('profile to finish', async () => exitStatus('profile'), 60_000)).toBe(0);
    expect(screen('profile').replace(/\n/g, '')).toMatch(/wrote .*x\.folded \(folded, \d+ bytes, \d+ samples, profile [0-9a-f-]{36}\)/);
    expect(existsSync(out) && statSync(out).size).toBeGreaterThan(0);
    expect(readFileSync(out, 'utf8').split('\n')[0]).toMatch(/^\S.* \d+$/); // folded: "frame;frame count"
  });

  it('profile: Ctrl-C stops the sampling, keeps what was sampled, writes it (-o - with --format) and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-tty-'));
    const out = join(dir, 'early.svg');
    // -o - to stdout, redirected by the shell: the format comes from --format.
    startInTerminal('early', ['/bin/bash', '-c', `exec "$@" > ${out}`, 'bash', process.execPath, CLI, 'profile', '--seconds', '60', '--hz', '199', '-o', '-', '--format', 'svg', '--api', api]);
    await waitFor('sampling to start', async () => (/sampling \[/.test(screen('early')) ? true : undefined), 10_000, 100);
    await new Promise((r) => setTimeout(r, 1500));
    const started = Date.now();
    tmux('send-keys', '-t', 'early', 'C-c');
    const status = await waitFor('profile to finish', async () => exitStatus('early'), 30_000).catch((e) => { console.log(screen('early')); throw e; });
    expect(status).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000); // not the 60 s asked for
    const shown = screen('early').replace(/\n/g, '');
    expect(shown).toContain('stopping: writing what was sampled');
    expect(shown).toMatch(/wrote stdout \(svg, \d+ bytes, [1-9]\d* samples, stopped early, profile [0-9a-f-]{36}\)/);
    const svg = readFileSync(out, 'utf8');
    expect(svg).toMatch(/^<\?xml/);
    expect(svg).toMatch(/sampling was stopped early, after \d+\.\d s of 60 s/);
  });

  it('status: renders the sensors table', async () => {
    startInTerminal('status', [process.execPath, CLI, 'status', '--api', api]);
    expect(await waitFor('status to finish', async () => exitStatus('status'), 20_000)).toBe(0);
    const s = screen('status');
    expect(s).toMatch(/^collector 0\.1\.0, up \d+\S*; helper \S+ up, 0 restarts; kernel \S+$/m);
    expect(s).toMatch(/^SENSOR\s+STATE\s+ROUTE\s+SUBMITTED\s+RING DROPS\s+MAP FULL\s+PROG RUNS\s+PROG CPU$/m);
    expect(s).toMatch(/^process\s+attached\s+\S+\s+\d+\s+0\s+0\s+\d+\s+\d+\.\d{3}s$/m);
    expect(s).toMatch(/^tcp\s+off\s+/m);
  });
});
