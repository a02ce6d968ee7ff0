// Starts the real collector CLI (dist/) as a user would, on a free loopback port, and scrapes it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const CLI = join(ROOT, 'dist/src/cli.js');
/** The `bpfwasm` command as installed: it sets glibc malloc's tunable, then runs CLI under node. */
export const LAUNCHER = join(ROOT, 'bin/bpfwasm');

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    }).on('error', fail);
  });
}

export interface RunningCollector {
  url: string;
  /** The collector's gRPC API unix socket, private to this collector (a temp dir). */
  apiSocket: string;
  proc: ChildProcess;
  output(): string;
  /** Resolves with the exit code when the collector exits by itself. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

const ALL_SENSORS = ['process', 'syscalls', 'tcp', 'blockio', 'runqlat', 'oom', 'bench'] as const;

/** A `sensors` config section enabling exactly these sensors (with their options), every other one off. */
export function onlySensors(enabled: Record<string, Record<string, unknown>>): Record<string, Record<string, unknown>> {
  return Object.fromEntries(ALL_SENSORS.map((s) => [s, { ...enabled[s], enabled: s in enabled }]));
}

export async function startCollector(config: Record<string, unknown> = {}): Promise<RunningCollector> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-it-'));
  const file = join(dir, 'config.yaml');
  // Every collector gets its own API socket: the default /run/bpfwasm/api.sock is one per host.
  const apiSocket = join(dir, 'api.sock');
  const api = { socket: apiSocket, ...(config.api as Record<string, unknown> | undefined) };
  writeFileSync(file, stringify({ listen: { host: '127.0.0.1' }, ...config, api }));
  const proc = spawn(LAUNCHER, ['run', '--port', String(port), '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((ok) => proc.on('exit', (code) => ok(code)));
  return {
    url: `http://127.0.0.1:${port}`,
    apiSocket,
    proc,
    output: () => out,
    exited,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function waitReady(c: RunningCollector): Promise<void> {
  await waitFor('collector /readyz', async () => {
    if (c.proc.exitCode !== null) throw new Error(`collector exited ${c.proc.exitCode}: ${c.output()}`);
    const res = await fetch(`${c.url}/readyz`);
    return res.status === 200 ? true : undefined;
  });
}

/** Parses text exposition into `name{labels}` → value, keeping label order as exposed. */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

export async function scrape(c: RunningCollector): Promise<Map<string, number>> {
  const res = await fetch(`${c.url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseExposition(await res.text());
}

/** All samples of one metric name, as label-text → value. */
export function samples(m: Map<string, number>, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of m) {
    if (k === name) out.set('', v);
    else if (k.startsWith(`${name}{`)) out.set(k.slice(name.length + 1, -1), v);
  }
  return out;
}

/**
 * A helper.path whose helper gets --test-unloadable SENSOR whenever it loads that sensor (with
 * `once`, only the first time): the kernel's verifier then refuses the sensor for real
 * (ebpf/PROTOCOL.md). `--check` runs as is.
 */
export function unloadableSensorHelper(sensor: string, opts: { once?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-unloadable-'));
  const wrapper = join(dir, 'bpfwasm-helper');
  const helper = join(ROOT, 'ebpf/build/bpfwasm-helper');
  const used = join(dir, 'used');
  const once = opts.once ? `[ -e ${used} ] && exec ${helper} "$@"; touch ${used}; ` : '';
  writeFileSync(wrapper, `#!/bin/sh
for a; do
  case ",$a," in *,${sensor},*) [ "$1" != --check ] && { ${once}exec ${helper} "$@" --test-unloadable ${sensor}; };; esac
done
exec ${helper} "$@"
`, { mode: 0o755 });
  return wrapper;
}

/** Names of the BPF programs the collector's helper holds (its fds), whatever else runs on the host. */
export function helperPrograms(c: RunningCollector): string[] {
  const read = (path: string) => { try { return readFileSync(path, 'utf8'); } catch { return ''; } };
  const tasks = readdirSync(`/proc/${c.proc.pid}/task`);
  const children = tasks.flatMap((t) => read(`/proc/${c.proc.pid}/task/${t}/children`).split(' ').filter(Boolean));
  const helper = children.find((pid) => read(`/proc/${pid}/comm`) === 'bpfwasm-helper\n');
  if (!helper) throw new Error('the collector has no helper process');
  const ids = new Set<string>();
  for (const fd of readdirSync(`/proc/${helper}/fdinfo`)) {
    const id = /^prog_id:\s+(\d+)$/m.exec(read(`/proc/${helper}/fdinfo/${fd}`));
    if (id) ids.add(id[1]!);
  }
  return [...ids].map((id) => JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', id], { encoding: 'utf8' })).name as string).sort();
}

