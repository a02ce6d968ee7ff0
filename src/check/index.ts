// `bpfwasm check`: what this host has of what bpfwasm needs, each missing piece with its remedy.
// Every probe does the real thing (the helper creates the map, loads and attaches the program,
// opens the event; each sensor is loaded and attached on its own), so "ok" means it works here.
import { existsSync, readFileSync } from 'node:fs';
import { SENSORS, type Config, type SensorName } from '../config.js';
import { helperArgs } from '../ingest/helper-args.js';
import { findCgroupMounts, v2Controllers } from '../resolve/cgroups.js';
import {
  OPTIONAL_CAPABILITIES, capEffFromStatus, capabilitiesInMask, requiredCapabilities, type Capability,
} from './capabilities.js';
import { helperReport, runSensor, type HelperReport, type ProbeResult, type SensorRun } from './probe.js';

export { requiredCapabilities, kubernetesName, OPTIONAL_CAPABILITIES, type Capability } from './capabilities.js';

/**
 * required: bpfwasm (as configured) cannot run without it; optional: a feature is lost without
 * it; unused: nothing in bpfwasm uses it, reported so the host is fully described.
 */
export type Need = 'required' | 'optional' | 'unused';

export interface CheckItem {
  id: string;
  title: string;
  ok: boolean;
  need: Need;
  detail: string;
  /** What to do about it; set when !ok. */
  remedy?: string;
}

export interface CheckReport {
  /** No required item is missing. */
  ok: boolean;
  kernel?: string;
  helper?: { path: string; version?: string; libbpf?: string };
  /** The helper process' effective capabilities (it is what needs them), of those below. */
  effectiveCapabilities: Capability[];
  /** What the enabled sensors and the profiler need: grant exactly these. */
  capabilities: {
    required: Capability[];
    optional: { capability: Capability; for: string; instead?: string }[];
  };
  items: CheckItem[];
  sensors: Partial<Record<SensorName, SensorRun & { enabled: boolean; required: boolean }>>;
}

export interface CheckOptions {
  /** Skip loading each sensor (the kernel probes still run). */
  skipSensors?: boolean;
  /** Defaults to /proc/self/mountinfo. */
  mountinfo?: string;
}

const KERNEL_BTF = '/sys/kernel/btf/vmlinux';
const KPROBE_PMU = '/sys/bus/event_source/devices/kprobe';

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function probeItem(
  id: string, title: string, need: Need, probe: ProbeResult | undefined, okDetail: string, remedy: string,
): CheckItem {
  if (!probe) return { id, title, ok: false, need, detail: 'not probed: the helper did not run', remedy };
  return probe.ok
    ? { id, title, ok: true, need, detail: okDetail }
    : { id, title, ok: false, need, detail: `failed: ${probe.error} (errno ${probe.errno})`, remedy };
}

function capabilityItems(effective: Capability[], required: Capability[], stats: boolean): CheckItem[] {
  const items: CheckItem[] = required.map((c) => {
    const ok = effective.includes(c);
    return {
      id: c.toLowerCase(), title: c, ok, need: 'required' as const,
      detail: ok ? 'effective' : 'not in the effective set',
      ...(!ok && {
        remedy: `run as root, or grant it: setcap cap_bpf,cap_perfmon+ep <helper>; in Kubernetes add ${c.slice(4)} to securityContext.capabilities.add; in systemd AmbientCapabilities=${c}`,
      }),
    };
  });
  // Each optional capability has a host setting that makes it unnecessary.
  const kptrRestrict = readTrimmed('/proc/sys/kernel/kptr_restrict');
  const settled: Partial<Record<Capability, string | false>> = {
    CAP_SYS_ADMIN: stats && 'kernel.bpf_stats_enabled=1',
    CAP_SYSLOG: kptrRestrict === '0' && 'kernel.kptr_restrict=0',
  };
  for (const o of OPTIONAL_CAPABILITIES) {
    const setting = settled[o.capability];
    const ok = effective.includes(o.capability) || Boolean(setting);
    const detail = effective.includes(o.capability)
      ? 'effective' : ok ? `not effective; not needed: ${setting}` : `not effective: no ${o.for}`;
    items.push({
      id: o.capability.toLowerCase(), title: `${o.capability} (optional)`, ok, need: 'optional', detail,
      ...(!ok && { remedy: `grant ${o.capability} for ${o.for}${o.instead ? `, or ${o.instead}` : ''}` }),
    });
  }
  return items;
}

function kernelItems(r: HelperReport | undefined): CheckItem[] {
  const p = r?.probes;
  const statsSysctl = r?.bpf_stats_sysctl === 1;
  const stats = probeItem('bpf_stats', 'bpf_stats (program run time)', 'optional', p?.bpf_stats,
    'BPF_ENABLE_STATS works', 'grant CAP_SYS_ADMIN, or set sysctl kernel.bpf_stats_enabled=1 on the host');
  if (!stats.ok && statsSysctl) {
    Object.assign(stats, { ok: true, detail: 'kernel.bpf_stats_enabled=1 (BPF_ENABLE_STATS itself needs CAP_SYS_ADMIN)' });
    delete stats.remedy;
  }
  const kprobe: CheckItem = p?.kprobe.ok
    ? { id: 'kprobe', title: 'kprobes', ok: true, need: 'unused', detail: 'a kprobe perf event opens' }
    : {
        id: 'kprobe', title: 'kprobes', ok: false, need: 'unused',
        detail: existsSync(KPROBE_PMU)
          ? `a kprobe perf event failed: ${p?.kprobe.error ?? 'not probed'}`
          : `absent: no ${KPROBE_PMU} (kernel built without CONFIG_KPROBES)`,
        remedy: 'none needed: bpfwasm attaches to BTF tracepoints (tp_btf), never kprobes',
      };
  return [
    probeItem('btf', 'kernel BTF', 'required', p?.btf, `${KERNEL_BTF} loads`,
      `run a kernel built with CONFIG_DEBUG_INFO_BTF=y; in a container mount the host's /sys/kernel/btf read-only`),
    probeItem('ringbuf', 'BPF ring buffer', 'required', p?.ringbuf, 'a BPF_MAP_TYPE_RINGBUF map creates',
      'needs Linux 5.8 or later, and CAP_BPF'),
    probeItem('tp_btf', 'tp_btf programs', 'required', p?.tp_btf, 'a tp_btf program loads and attaches to sched_process_fork',
      'needs Linux 5.5 or later with BTF, and CAP_BPF and CAP_PERFMON'),
    probeItem('perf_event', 'perf events', 'optional', p?.perf_event,
      'a CPU-clock sampling event opens and takes a BPF program',
      'profiles (/flamegraph) need CAP_PERFMON and CONFIG_PERF_EVENTS (check kernel.perf_event_paranoid if not root)'),
    stats,
    kprobe,
  ];
}

function cgroupItems(mountinfoPath: string): CheckItem[] {
  let mountinfo = '';
  try {
    mountinfo = readFileSync(mountinfoPath, 'utf8');
  } catch { /* reported as missing below */ }
  const m = findCgroupMounts(mountinfo);
  const v2: CheckItem = m.v2
    ? { id: 'cgroup2', title: 'cgroup v2 mount', ok: true, need: 'optional', detail: `${m.v2.mountPoint}${m.v2.root && m.v2.root !== '/' ? ` (subtree ${m.v2.root})` : ''}` }
    : {
        id: 'cgroup2', title: 'cgroup v2 mount', ok: false, need: 'optional',
        detail: 'no cgroup2 mount: cgroup paths and workload labels are unavailable',
        remedy: "mount cgroup2 (systemd does by default); in a container mount the host's /sys/fs/cgroup read-only",
      };
  const memory: CheckItem = m.memory
    ? {
        id: 'memory_controller', title: 'memory controller', ok: true, need: 'optional',
        detail: m.memory.version === 2 ? `cgroup v2 at ${m.memory.mountPoint}` : `cgroup v1 at ${m.memory.mountPoint} (hybrid hierarchy)`,
      }
    : {
        id: 'memory_controller', title: 'memory controller', ok: false, need: 'optional',
        detail: 'not mounted: OOM kills carry no memory cgroup path',
        remedy: "enable the memory controller (cgroup2 cgroup.subtree_control, or a v1 memory mount); in a container mount the host's /sys/fs/cgroup",
      };
  if (m.v2 && m.memory?.version === 2) memory.detail += ` (controllers: ${v2Controllers(m.v2).join(' ')})`;
  return [v2, memory];
}

/** The config with only `sensor` enabled, so each runs alone with its own options. */
function onlySensor(config: Config, sensor: SensorName): Config {
  const sensors = Object.fromEntries(SENSORS.map((s) => [s, { ...config.sensors[s], enabled: s === sensor }]));
  return { ...config, sensors: sensors as unknown as Config['sensors'] };
}

async function sensorItems(config: Config, report: CheckReport): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  for (const s of SENSORS) {
    const enabled = config.sensors[s].enabled;
    let run: SensorRun;
    try {
      run = await runSensor(config.helper.path, helperArgs(onlySensor(config, s)));
    } catch (err) {
      run = { ok: false, exitCode: null, programs: [], error: (err as Error).message };
    }
    const required = enabled && config.sensors[s].required;
    report.sensors[s] = { ...run, enabled, required };
    // A sensor that fails is left off and the others run, unless it is required or its failure
    // stops the helper itself (no privileges, no BTF, a refused option: no sensor would load).
    const need: Need = enabled && (required || (!run.ok && run.exitCode !== 0)) ? 'required' : 'optional';
    const title = `sensor ${s}${required ? ' (required)' : enabled ? '' : ' (disabled)'}`;
    const route = run.route ? `, route ${run.route}` : '';
    items.push(run.ok
      ? { id: `sensor_${s}`, title, ok: true, need, detail: `${run.programs.length} program${run.programs.length === 1 ? "" : "s"} loaded in ${run.loadMs?.toFixed(1)} ms, attached in ${run.attachMs?.toFixed(1)} ms${route}` }
      : { id: `sensor_${s}`, title, ok: false, need, detail: `${run.error ?? 'failed'}${route}`, remedy: sensorRemedy(s, run, required) });
  }
  return items;
}

function sensorRemedy(sensor: SensorName, run: SensorRun, required: boolean): string {
  if (run.exitCode === 0 || (run.exitCode === 4 && required)) {
    const kernel = `see ebpf/${sensor}/README.md for the kernels and routes it supports`;
    return required
      ? `${kernel}; or set sensors.${sensor}.required: false to start without it`
      : `${kernel}; bpfwasm runs without it: the other sensors are unaffected`;
  }
  switch (run.exitCode) {
    case 2: return 'run a kernel built with CONFIG_DEBUG_INFO_BTF=y';
    case 3: return 'grant CAP_BPF and CAP_PERFMON to the helper (see the capability rows)';
    case 1: return "fix the sensor's options in the config (the error names the one the helper refused)";
    default: return 'see ebpf/<sensor>/README.md for the kernel it needs; the error is the helper\'s own';
  }
}

/** Probes this host for what `config` needs. Never throws for a missing piece: it reports it. */
export async function runCheck(config: Config, options: CheckOptions = {}): Promise<CheckReport> {
  const required = requiredCapabilities(config);
  let helper: HelperReport | undefined;
  let helperError: string | undefined;
  try {
    helper = await helperReport(config.helper.path);
  } catch (err) {
    helperError = (err as Error).message;
  }
  // The helper's own caps are what count (it may have file capabilities); without it, ours.
  let capEff = helper?.cap_eff;
  if (!capEff) {
    try {
      capEff = capEffFromStatus(readFileSync('/proc/self/status', 'utf8'));
    } catch { /* no /proc: no capabilities known */ }
  }
  const effective = capabilitiesInMask(capEff ?? '');
  const report: CheckReport = {
    ok: false,
    ...(helper && { kernel: helper.kernel }),
    helper: { path: config.helper.path, ...(helper && { version: helper.helper, libbpf: helper.libbpf }) },
    effectiveCapabilities: effective,
    capabilities: { required, optional: OPTIONAL_CAPABILITIES.map((o) => ({ ...o })) },
    items: [],
    sensors: {},
  };
  report.items.push(helper
    ? { id: 'helper', title: 'bpfwasm-helper', ok: true, need: 'required', detail: `${helper.helper}, libbpf ${helper.libbpf}, kernel ${helper.kernel}` }
    : { id: 'helper', title: 'bpfwasm-helper', ok: false, need: 'required', detail: helperError ?? 'did not run', remedy: 'build it: npm run build (or make -C ebpf), or set helper.path' });
  report.items.push(...kernelItems(helper));
  report.items.push(...capabilityItems(effective, required, helper?.bpf_stats_sysctl === 1));
  report.items.push(...cgroupItems(options.mountinfo ?? '/proc/self/mountinfo'));
  if (!options.skipSensors) report.items.push(...(await sensorItems(config, report)));
  report.ok = report.items.every((i) => i.ok || i.need !== 'required');
  return report;
}

/** The status column: what a person should make of each row. */
export function statusText(item: CheckItem): string {
  if (item.ok) return 'ok';
  if (item.need === 'required') return 'MISSING';
  return item.need === 'optional' ? 'missing (optional)' : 'absent (unused)';
}

/** The report as an aligned table; remedies follow their row, indented, so long ones wrap readably. */
export function renderTable(report: CheckReport): string {
  const rows = report.items.map((i) => [i.title, statusText(i), i.detail]);
  const w0 = Math.max(5, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(6, ...rows.map((r) => r[1]!.length));
  const line = (a: string, b: string, c: string) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`.trimEnd();
  const out = [line('CHECK', 'STATUS', 'DETAIL')];
  for (const [k, item] of report.items.entries()) {
    const r = rows[k]!;
    out.push(line(r[0]!, r[1]!, r[2]!));
    if (item.remedy) out.push(`${' '.repeat(w0 + 2)}remedy: ${item.remedy}`);
  }
  out.push('');
  out.push(`capabilities needed: ${report.capabilities.required.join(' ')}`);
  const missing = report.items.filter((i) => !i.ok && i.need === 'required');
  out.push(report.ok ? 'result: everything bpfwasm needs is here' : `result: ${missing.length} required item${missing.length === 1 ? '' : 's'} missing: ${missing.map((i) => i.title).join(', ')}`);
  const off = Object.entries(report.sensors).filter(([, r]) => r.enabled && !r.required && !r.ok).map(([s]) => s);
  if (off.length) out.push(`sensors that will be off (bpfwasm runs without them): ${off.join(', ')}`);
  return `${out.join('\n')}\n`;
}
