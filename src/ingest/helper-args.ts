// The helper's command line for a config (ebpf/PROTOCOL.md). Sensor options reach the helper
// as `--set <sensor>.<variable>=<value>` from their declarations (ebpf/<sensor>/sensor.yaml);
// an option whose value needs work first names a hook below.
import type { Config } from '../config.js';
import { BpfwasmError } from '../errors.js';
import { AGGREGATING, SENSORS, SENSOR_ARGS, type SensorArgHook, type SensorName } from '../generated/sensors.js';
import { cgroupLevel, findCgroupId } from '../resolve/cgroup-paths.js';

type SetArg = (sensor: SensorName, variable: string, value: string | number) => void;

/** Hooks named by sensor options (`hook:` in sensor.yaml): each writes its sensor's `--set`s. */
const HOOKS: Record<SensorArgHook, (config: Config, set: SetArg) => void> = {
  /** syscalls: a cgroup path becomes its id, and `subtree` the path's depth below the root. */
  cgroupFilter(config, set) {
    const sc = config.sensors.syscalls;
    // The root's whole subtree is every task: no filter at all. Level 0 would mean "only the root".
    const level = sc.subtree ? cgroupLevel(sc.cgroup)! : 0;
    if (sc.cgroup && !(sc.subtree && level === 0)) {
      const found = findCgroupId(sc.cgroup);
      if ('problem' in found) throw new BpfwasmError('CONFIG_INVALID', `config: sensors.syscalls.cgroup ${found.problem}`);
      set('syscalls', 'filter_cgroup', String(found.id));
    }
    if (level > 0) set('syscalls', 'filter_cgroup_level', level);
  },
};

export function helperArgs(config: Config): string[] {
  const sensors = SENSORS.filter((s) => config.sensors[s].enabled);
  const h = config.helper;
  const args = [
    '--sensors', sensors.join(','),
    '--ring-bytes', String(h.ringBytes),
    ...(h.wakeupBytes ? ['--wakeup-bytes', String(h.wakeupBytes)] : []),
    '--poll-ms', String(h.pollMs),
    ...(h.busyPollMs ? ['--busy-poll-ms', String(h.busyPollMs)] : []),
    '--stats-ms', String(h.statsMs),
    '--batch-bytes', String(h.batchBytes),
  ];
  const required = sensors.filter((s) => config.sensors[s].required);
  if (required.length) args.push('--require', required.join(','));
  if (sensors.some((s) => AGGREGATING.has(s))) args.push('--aggregate-ms', String(h.aggregateMs));
  for (const s of sensors) {
    if (config.sensors[s].ringBytes) args.push('--ring', `${s}=${config.sensors[s].ringBytes}`);
    if (config.sensors[s].route !== 'auto') args.push('--route', `${s}=${config.sensors[s].route}`);
  }
  const set: SetArg = (sensor, variable, value) => args.push('--set', `${sensor}.${variable}=${value}`);
  const enabled = new Set<SensorName>(sensors);
  for (const arg of SENSOR_ARGS) {
    if (!enabled.has(arg.sensor)) continue;
    if ('hook' in arg) {
      HOOKS[arg.hook](config, set);
      continue;
    }
    const value = (config.sensors[arg.sensor] as unknown as Record<string, unknown>)[arg.option];
    if (!arg.always && (value === 0 || value === false || value === '')) continue;
    set(arg.sensor, arg.variable, typeof value === 'boolean' ? Number(value) : String(value));
  }
  return args;
}
