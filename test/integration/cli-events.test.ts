// `bpfwasm events -o json` on the real kernel, read through a pipe and on a real terminal (tmux):
// every documented field of exec, exit and tcp records is there, counts are JSON numbers, an exec
// with 40 arguments shows the bound and the "…"; --count and --duration end it with status 0,
// and a cgroup that does not exist is an error instead of an empty stream.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, onlySensors, startCollector, waitFor, waitReady, type RunningCollector } from './support/collector.js';
import { waitForStreams } from './support/api.js';
import { uniqueBinary } from './support/processes.js';

const HEADER = ['type', 'time', 'wall_time_unix_ns', 'timestamp_ns', 'cpu', 'pid', 'tgid', 'comm', 'cgroup_id', 'cgroup'];
const NUMBERS: Record<string, readonly string[]> = {
  process_exec: ['timestamp_ns', 'cpu', 'pid', 'tgid', 'cgroup_id', 'ppid', 'uid', 'argc', 'args_count', 'args_size', 'flags', 'args_lost'],
  process_exit: ['timestamp_ns', 'cpu', 'pid', 'tgid', 'cgroup_id', 'ppid', 'exit_code', 'exit_signal', 'lifetime_ns'],
  tcp_open: ['local_port', 'remote_port', 'family', 'direction'],
  tcp_close: ['local_port', 'remote_port', 'family', 'direction', 'duration_ns', 'bytes_received', 'bytes_acked'],
};
const STRINGS: Record<string, readonly string[]> = {
  process_exec: ['type', 'time', 'wall_time_unix_ns', 'comm', 'cgroup', 'filename', 'args'],
  process_exit: ['type', 'time', 'wall_time_unix_ns', 'comm', 'cgroup'],
  tcp_open: ['local_addr', 'remote_addr', 'local_ip', 'remote_ip'],
  tcp_close: ['local_addr', 'remote_addr', 'local_ip', 'remote_ip'],
};

/** Every documented field present, with its JSON type. */
function expectDocumented(event: Record<string, unknown>): void {
  const type = event.type as string;
  for (const k of HEADER) expect(event, `${type}.${k}`).toHaveProperty(k);
  for (const k of NUMBERS[type]!) expect(typeof event[k], `${type}.${k}`).toBe('number');
  for (const k of STRINGS[type]!) expect(typeof event[k], `${type}.${k}`).toBe('string');
  expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
}

/** Runs the CLI with its stdout a pipe; resolves with its output once it exits. */
function cli(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return { child, done: new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr }))) };
}

const jsonLines = (text: string) => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

/** A copy of /bin/false run with 39 arguments after argv[0]: 40 in all, exit status 1. */
function exec40(): { comm: string; run: () => void; argv: string[] } {
  const bin = uniqueBinary('/bin/false', 'bwj');
  const argv = Array.from({ length: 39 }, (_, i) => `a${i + 1}`);
  return { comm: bin.comm, argv: [bin.path, ...argv], run: () => { spawn(bin.path, argv, { stdio: 'ignore' }); } };
}

function expectExec40(exec: Record<string, unknown>, argv: string[]): void {
  expectDocumented(exec);
  expect(exec).toMatchObject({ filename: argv[0], uid: 0, argc: 40, args_count: 20, args_lost: 20, flags: 1 });
  expect(exec.args).toBe(`${argv.slice(0, 20).join(' ')} …`);
}

describe('bpfwasm events -o json', () => {
  let c: RunningCollector;
  let api: string;

  beforeAll(async () => {
    c = await startCollector({ sensors: onlySensors({ process: {}, tcp: {} }) });
    await waitReady(c);
    api = `unix:${c.apiSocket}`;
  });

  afterAll(async () => {
    expect(await c.stop()).toBe(0);
  });

  it('through a pipe: exec with the first 20 of 40 arguments and "…", then its exit; --count ends it with 0', async () => {
    const p = exec40();
    const run = cli(['events', '-o', 'json', '--type', 'process_exec,process_exit', '--comm', p.comm, '--count', '2', '--api', api]);
    await waitForStreams(c, 1);
    p.run();
    const { code, stdout, stderr } = await run.done;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const events = jsonLines(stdout);
    expect(stdout.split('\n').filter(Boolean), stdout).toHaveLength(2); // no header, no other line
    const exec = events.find((e) => e.type === 'process_exec');
    const exit = events.find((e) => e.type === 'process_exit');
    expectExec40(exec!, p.argv);
    expectDocumented(exit!);
    expect(exit).toMatchObject({ type: 'process_exit', comm: p.comm, tgid: exec!.tgid, exit_code: 1, exit_signal: 0 });
    expect(exit!.lifetime_ns as number).toBeGreaterThan(0);
  });

  it('tcp_open and tcp_close of a loopback connection, numbers as numbers', async () => {
    // Waits for a line on stdin, so the stream is open before it connects.
    const script = `
      const net = require('node:net');
      process.stdin.once('data', () => {
        const server = net.createServer((s) => { s.on('data', () => s.end('pong'.repeat(1000))); });
        server.listen(0, '127.0.0.1', () => {
          const conn = net.connect(server.address().port, '127.0.0.1', () => conn.write('ping'));
          conn.on('data', () => {});
          conn.on('end', () => { conn.destroy(); setTimeout(() => server.close(() => process.exit(0)), 200); });
        });
      });`;
    const peer = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'ignore', 'inherit'] });
    const run = cli(['events', '-o', 'json', '--type', 'tcp_open,tcp_close', '--pid', String(peer.pid), '--count', '4', '--api', api]);
    await waitForStreams(c, 1);
    peer.stdin!.write('go\n');
    const { code, stdout, stderr } = await run.done;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const events = jsonLines(stdout);
    expect(events.map((e) => e.type).sort()).toEqual(['tcp_close', 'tcp_close', 'tcp_open', 'tcp_open']);
    for (const e of events) {
      expectDocumented(e);
      expect(e).toMatchObject({ local_ip: '127.0.0.1', remote_ip: '127.0.0.1', family: 2, tgid: peer.pid });
    }
    const client = events.find((e) => e.type === 'tcp_close' && e.direction === 1)!;
    expect(client.bytes_received).toBe(4000);
    expect(client.bytes_acked).toBe(4);
  });

  it('on a terminal (tmux) the same objects, one a line', async () => {
    const server = `bpfwasm-json-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
    const p = exec40();
    const argv = [process.execPath, CLI, 'events', '-o', 'json', '--type', 'process_exec', '--comm', p.comm, '--count', '1', '--api', api];
    const command = ['/bin/bash', '-c', 'sleep 0.3; "$@"; echo "[exit $?]"', 'bash', ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    try {
      tmux('start-server', ';', 'set-option', '-g', 'remain-on-exit', 'on', ';', 'new-session', '-d', '-s', 'json', '-x', '100', '-y', '30', command);
      await waitForStreams(c, 1);
      p.run();
      // -J joins the lines the 100-column pane wrapped.
      const shown = await waitFor('the exit status', async () => {
        const s = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'json');
        return /^\[exit \d+\]$/m.test(s) ? s : undefined;
      });
      expect(shown).toMatch(/^\[exit 0\]$/m);
      const [exec] = jsonLines(shown);
      expectExec40(exec!, p.argv);
    } finally {
      try { tmux('kill-server'); } catch { /* already gone */ }
    }
  });

  it('--duration ends a quiet stream with status 0', async () => {
    const started = Date.now();
    const { code, stdout, stderr } = await cli(['events', '-o', 'json', '--comm', 'bw-nothing-here', '--duration', '1s', '--api', api]).done;
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('a cgroup that does not exist is an error, not an empty stream', async () => {
    const { code, stderr } = await cli(['events', '-o', 'json', '--cgroup', '/bw-no-such-cgroup', '--api', api]).done;
    expect(code).toBe(1);
    expect(stderr).toBe('bpfwasm: cgroup "/bw-no-such-cgroup" does not exist (a path under the cgroup v2 mount, e.g. system.slice/nginx.service, or an id), so nothing would match\n');
  });
});
