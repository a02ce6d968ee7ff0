// `bpfwasm check` on this machine (and CI's, the same kind): a 6.18 kernel with BTF, run as
// root, hybrid cgroups with memory on v1, and no kprobes. Exact expectations, from the real CLI.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { CheckReport } from '../../src/check/index.js';
import { capabilitiesInMask, capEffFromStatus, requiredCapabilities } from '../../src/check/capabilities.js';
import { SENSORS, buildConfig, defaultConfig } from '../../src/config.js';
import { CLI, unloadableSensorHelper } from '../integration/support/collector.js';

interface Result { code: number; stdout: string; stderr: string }

/** Runs the CLI, optionally under setpriv with only `caps` in the bounding set (so root has only those). */
function cli(args: string[], caps?: string[]): Promise<Result> {
  const [cmd, argv] = caps
    ? ['setpriv', [`--bounding-set=-all${caps.map((c) => `,+${c.slice(4).toLowerCase()}`).join('')}`, '--inh-caps=-all', process.execPath, CLI, ...args]]
    : [process.execPath, [CLI, ...args]];
  return new Promise((resolve) => {
    execFile(cmd, argv, { timeout: 40_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const byId = (r: CheckReport) => Object.fromEntries(r.items.map((i) => [i.id, i]));

describe('bpfwasm check', () => {
  it('reports this machine: everything available, kprobes absent, every sensor runs', async () => {
    const r = await cli(['check', '--output', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report.ok).toBe(true);
    expect(report.kernel).toMatch(/^6\.18\./);
    const items = byId(report);
    // Everything but kprobes is there; kprobes are reported absent, as unused.
    expect(report.items.filter((i) => !i.ok).map((i) => i.id)).toEqual(['kprobe']);
    expect(items.kprobe).toMatchObject({
      need: 'unused',
      detail: 'absent: no /sys/bus/event_source/devices/kprobe (kernel built without CONFIG_KPROBES)',
    });
    expect(Object.fromEntries(['btf', 'ringbuf', 'tp_btf', 'perf_event', 'bpf_stats', 'cap_bpf', 'cap_perfmon']
      .map((id) => [id, [items[id]!.ok, items[id]!.need]]))).toEqual({
      btf: [true, 'required'], ringbuf: [true, 'required'], tp_btf: [true, 'required'],
      perf_event: [true, 'optional'], bpf_stats: [true, 'optional'],
      cap_bpf: [true, 'required'], cap_perfmon: [true, 'required'],
    });
    // Root: every capability of interest is effective.
    expect([...report.effectiveCapabilities].sort()).toEqual(['CAP_BPF', 'CAP_PERFMON', 'CAP_SYSLOG', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE']);
    expect(report.capabilities.required).toEqual(['CAP_BPF', 'CAP_PERFMON']);
    // Hybrid hierarchy: cgroup2 without controllers at /sys/fs/cgroup/unified, memory on v1.
    expect(items.cgroup2!.detail).toBe('/sys/fs/cgroup/unified');
    expect(items.memory_controller!.detail).toBe('cgroup v1 at /sys/fs/cgroup/memory (hybrid hierarchy)');
    // Each sensor was really loaded and attached on its own: READY, exit 0, its programs listed.
    expect(Object.keys(report.sensors)).toEqual([...SENSORS]);
    // Off by default: syscalls (it costs every syscall) and bench (benchmarks only).
    const off = (s: string) => s === 'syscalls' || s === 'bench';
    for (const s of SENSORS) {
      const run = report.sensors[s]!;
      expect(run, s).toMatchObject({ ok: true, exitCode: 0, enabled: !off(s) });
      expect(run.programs.length, s).toBeGreaterThan(0);
      expect(run.loadMs, s).toBeGreaterThan(0);
      // None is required by default: one that failed would be left off and the others would run.
      expect(items[`sensor_${s}`]!.need).toBe('optional');
    }
    expect(report.sensors.process!.programs).toEqual(['handle_fork', 'handle_exec', 'handle_exit']);
  });

  it('prints a table with the remedy under each missing row', async () => {
    const r = await cli(['check', '--no-sensors']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^CHECK\s+STATUS\s+DETAIL$/);
    const k = lines.findIndex((l) => l.startsWith('kprobes '));
    expect(lines[k]).toMatch(/^kprobes\s+absent \(unused\)\s+absent: no \/sys\/bus\/event_source\/devices\/kprobe/);
    expect(lines[k + 1]).toMatch(/^\s+remedy: none needed: bpfwasm attaches to BTF tracepoints/);
    expect(lines.find((l) => l.startsWith('tp_btf programs'))).toMatch(/\sok\s/);
    expect(r.stdout).toContain('capabilities needed: CAP_BPF CAP_PERFMON\nresult: everything bpfwasm needs is here\n');
    expect(r.stdout).not.toContain('sensor process'); // --no-sensors
  });

  it('exactly the capabilities it says are needed are enough: every enabled sensor runs with only those', async () => {
    const required = requiredCapabilities(buildConfig({ sensors: { syscalls: { enabled: true } } }));
    const r = await cli(['check', '--output', 'json'], required);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report.effectiveCapabilities.sort()).toEqual(required);
    expect(r.code).toBe(0);
    expect(report.ok).toBe(true);
    for (const s of SENSORS) expect(report.sensors[s], s).toMatchObject({ ok: true, exitCode: 0 });
    // What only the optional capabilities give is reported missing, as optional.
    const items = byId(report);
    expect([items.bpf_stats!.ok, items.bpf_stats!.need, items.cap_sys_admin!.ok]).toEqual([false, 'optional', false]);
    expect(items.bpf_stats!.remedy).toBe('grant CAP_SYS_ADMIN, or set sysctl kernel.bpf_stats_enabled=1 on the host');
  });

  it('without CAP_PERFMON: exit 2, the capability, tp_btf and every sensor reported missing with remedies', async () => {
    const r = await cli(['check', '--output', 'json'], ['CAP_BPF']);
    expect(r.code).toBe(2);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report.ok).toBe(false);
    const missing = report.items.filter((i) => !i.ok && i.need === 'required').map((i) => i.id);
    expect(missing).toEqual(['tp_btf', 'cap_perfmon', 'sensor_process', 'sensor_tcp', 'sensor_blockio', 'sensor_runqlat', 'sensor_oom']);
    const items = byId(report);
    expect(items.cap_perfmon!.remedy).toContain('add PERFMON to securityContext.capabilities.add');
    expect(items.tp_btf!.detail).toBe('failed: Operation not permitted (errno 1)');
    expect(items.ringbuf!.ok).toBe(true); // CAP_BPF alone creates maps
    expect(report.sensors.process).toMatchObject({ ok: false, exitCode: 3 });
    expect(items.sensor_process!.detail).toMatch(/^exit 3 \(missing privileges\): sensor 'process' failed to load: needs CAP_BPF and CAP_PERFMON/);
  });

  describe('a sensor the kernel refuses (the verifier, for real: --test-unloadable)', () => {
    // Whichever of its programs the kernel sees first (the sensor's own files may reorder them).
    const REFUSAL = "prog '\\w+': Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable";
    const config = (tcp: Record<string, unknown>) => {
      const file = join(mkdtempSync(join(tmpdir(), 'bpfwasm-check-')), 'config.yaml');
      writeFileSync(file, stringify({ helper: { path: unloadableSensorHelper('tcp') }, sensors: { tcp } }));
      return file;
    };

    it('optional: exit 0, the row says why and that bpfwasm runs without it', async () => {
      const r = await cli(['check', '--config', config({})]);
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n');
      const row = lines.findIndex((l) => l.startsWith('sensor tcp '));
      expect(lines[row]).toMatch(new RegExp(`^sensor tcp\\s+missing \\(optional\\)  load: ${REFUSAL} \\(errno 22\\)(, route \\S+)?$`));
      expect(lines[row + 1]).toMatch(/remedy: see ebpf\/tcp\/README.md for the kernels and routes it supports; bpfwasm runs without it/);
      expect(r.stdout).toContain('result: everything bpfwasm needs is here\nsensors that will be off (bpfwasm runs without them): tcp\n');
      // The other sensors still load (each runs alone).
      expect(r.stdout).toMatch(/^sensor process\s+ok\s/m);
    });

    it('required: exit 2, the row is MISSING with the verifier\'s line', async () => {
      const r = await cli(['check', '--config', config({ required: true }), '--output', 'json']);
      expect(r.code).toBe(2);
      const report = JSON.parse(r.stdout) as CheckReport;
      expect(report.items.filter((i) => !i.ok && i.need === 'required').map((i) => i.id)).toEqual(['sensor_tcp']);
      expect(byId(report).sensor_tcp).toMatchObject({
        title: 'sensor tcp (required)',
        detail: expect.stringMatching(new RegExp(`^exit 4 \\(failed to load or attach\\): required sensor 'tcp' failed to load: ${REFUSAL}$`)),
        remedy: 'see ebpf/tcp/README.md for the kernels and routes it supports; or set sensors.tcp.required: false to start without it',
      });
      expect(report.sensors.tcp).toMatchObject({ ok: false, exitCode: 4, enabled: true, required: true });
    });
  });

  it('reports a helper that cannot run as the first missing piece, with the build as remedy', async () => {
    const config = join(process.cwd(), 'test/check/fixtures/no-helper.yaml');
    const r = await cli(['check', '--config', config, '--output', 'json', '--no-sensors']);
    expect(r.code).toBe(2);
    const items = byId(JSON.parse(r.stdout) as CheckReport);
    expect(items.helper).toMatchObject({ ok: false, need: 'required', remedy: 'build it: npm run build (or make -C ebpf), or set helper.path' });
    expect(items.helper!.detail).toMatch(/^cannot run \/nonexistent\/bpfwasm-helper: spawn \/nonexistent\/bpfwasm-helper ENOENT$/);
    expect(items.btf!.detail).toBe('not probed: the helper did not run');
  });
});

describe('capabilities', () => {
  it('reads CapEff and names the capabilities in it', () => {
    expect(capEffFromStatus('Name:\tx\nCapPrm:\t000001fffeffffff\nCapEff:\t000000c000000000\n')).toBe('000000c000000000');
    expect(capabilitiesInMask('000000c000000000')).toEqual(['CAP_PERFMON', 'CAP_BPF']);
    expect(capabilitiesInMask('000001fffeffffff')).toEqual(['CAP_SYS_PTRACE', 'CAP_SYS_ADMIN', 'CAP_SYSLOG', 'CAP_PERFMON', 'CAP_BPF']);
    expect(capabilitiesInMask('0')).toEqual([]);
  });

  it('needs CAP_BPF and CAP_PERFMON whatever is enabled (the profiler needs them too)', () => {
    expect(requiredCapabilities(defaultConfig())).toEqual(['CAP_BPF', 'CAP_PERFMON']);
    const oomOnly = buildConfig({ sensors: Object.fromEntries(SENSORS.map((s) => [s, { enabled: s === 'oom' }])) });
    expect(requiredCapabilities(oomOnly)).toEqual(['CAP_BPF', 'CAP_PERFMON']);
  });
});
