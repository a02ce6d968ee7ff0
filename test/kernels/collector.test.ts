// The whole collector inside Debian 12's kernel (6.1) under QEMU: Node, dist, the production
// node_modules, the helper and the built-in exporters in the VM; a known exec workload runs
// there and /metrics (fetched with busybox wget) must count it exactly, as the pipeline test
// does on the host.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, samples } from '../integration/support/collector.js';
import { CACHE, ROOT, boot, buildFor, recordResult, type Boot, type Kernel } from './vm.js';

const KERNEL: Kernel = { id: '6.1', arch: 'x86_64' };
const EXECS = 50;
const PORT = 9745;
const DEFAULT_SENSORS = ['process', 'tcp', 'blockio', 'runqlat', 'oom'];

describe(`the collector inside kernel ${KERNEL.id}`, () => {
  const out = join(CACHE, 'out', 'collector');
  let vm: Boot;
  const file = (name: string) => (existsSync(join(out, name)) ? readFileSync(join(out, name), 'utf8') : '');

  beforeAll(async () => {
    const { workload } = buildFor(KERNEL.arch);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const config = join(CACHE, 'work', 'collector.yaml');
    // The embedded default's sensors, as `npm start` runs them on a stock Debian 12 host.
    writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1' } }));
    // The production dependency tree, as `npm ci --omit=dev` would install it.
    const tree = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n').filter((p) => p.startsWith(join(ROOT, 'node_modules')));
    // A nested dependency is copied with its parent.
    const deps = tree.filter((d) => !tree.some((parent) => d.startsWith(`${parent}/`)));
    // What `bpfwasm run` reads at run time: dist, the .proto files under src, the helper, the exporters.
    const adds = [process.execPath, join(ROOT, 'package.json'), join(ROOT, 'dist'), join(ROOT, 'src', 'metrics', 'proto'),
      join(ROOT, 'src', 'api', 'proto'), join(ROOT, 'ebpf', 'build', 'bpfwasm-helper'),
      join(ROOT, 'exporters', 'build'), workload, config, ...deps].flatMap((p) => ['--add', p]);
    const url = `http://127.0.0.1:${PORT}`;
    const script = [
      `cd ${ROOT}`,
      `${process.execPath} dist/src/cli.js run --port ${PORT} --config ${config} >/out/collector.log 2>&1 & pid=$!`,
      // Start-up under TCG takes a while: wait for /readyz, then for every exit on /metrics.
      `i=0; until wget -qO /dev/null ${url}/readyz; do i=$((i+1)); [ $i -lt 600 ] && kill -0 $pid || break; sleep 0.2; done`,
      `cp ${workload} /tmp/bwexec && ${workload} exec ${EXECS} /tmp/bwexec; echo "workload rc=$?" >/out/workload`,
      `i=0; until wget -qO /out/metrics ${url}/metrics && grep -q 'bpfwasm_process_lifetime_seconds_count{comm="bwexec"} ${EXECS}$' /out/metrics;`
        + ' do i=$((i+1)); [ $i -lt 150 ] && kill -0 $pid || break; sleep 0.2; done',
      'kill -TERM $pid; wait $pid; echo $? >/out/collector.rc',
    ].join('\n');
    vm = await boot(KERNEL, [...adds, '--', script], out, 2048);
    if (vm.release) recordResult(KERNEL.id, { collectorSeconds: vm.seconds, collectorInitramfsSeconds: vm.initramfsSeconds });
  }, 480_000);

  it(`serves the exact count of ${EXECS} execs on /metrics, and stops cleanly`, () => {
    expect(vm.code, `the VM did not finish:\n${vm.console.slice(-2000)}`).toBe(0);
    expect(file('workload')).toBe('workload rc=0\n');
    const m = parseExposition(file('metrics'));
    const label = 'comm="bwexec"';
    expect({
      execs: samples(m, 'bpfwasm_process_exec_total').get(label),
      exits: samples(m, 'bpfwasm_process_exit_total').get(`${label},exit_code="7"`),
      lifetimes: samples(m, 'bpfwasm_process_lifetime_seconds_count').get(label),
    }, `/metrics in the VM (collector log:\n${file('collector.log')})`).toEqual({ execs: EXECS, exits: EXECS, lifetimes: EXECS });
    // Every default sensor came up (through its fallback where 6.1 lacks the primary hook).
    const attached = samples(m, 'bpfwasm_sensor_attached');
    expect(Object.fromEntries(DEFAULT_SENSORS.map((s) => [s, attached.get(`sensor="${s}"`)]))).toEqual(
      Object.fromEntries(DEFAULT_SENSORS.map((s) => [s, 1])));
    expect(file('collector.rc').trim(), file('collector.log')).toBe('0');
  });
});
