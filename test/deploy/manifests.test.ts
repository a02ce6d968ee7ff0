// deploy/ is valid: the Kubernetes manifests against the Kubernetes and prometheus-operator
// schemas (kubernetes-models, offline), with unknown fields rejected; the capabilities the
// DaemonSet and the systemd unit grant are exactly what `bpfwasm check` says are needed; the
// Prometheus configs pass promtool; the unit passes systemd-analyze and its privilege model runs.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { DaemonSet, type IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { CheckReport } from '../../src/check/index.js';
import { kubernetesName, requiredCapabilities } from '../../src/check/capabilities.js';
import { buildConfig } from '../../src/config.js';
import { CLI } from '../integration/support/collector.js';

const ROOT = join(import.meta.dirname, '../..');
const K8S = join(ROOT, 'deploy/kubernetes');
const UNIT = join(ROOT, 'deploy/systemd/bpfwasm.service');

interface Manifest { file: string; doc: Record<string, unknown> & { kind: string; apiVersion: string } }

/** Every document of every deploy/kubernetes/*.yaml; a YAML error fails here. */
function manifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(K8S).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
      expect(d.errors, file).toEqual([]);
      out.push({ file, doc: d.toJS() as Manifest['doc'] });
    }
  }
  return out;
}

/** The model (with its schema) and the TypeScript type of each kind, by apiVersion/kind. */
const MODELS: Record<string, { model: new (d: never) => { validate(): void }; type: [string, string] }> = {
  'v1/Namespace': { model: Namespace, type: ['kubernetes-models/v1/Namespace', 'INamespace'] },
  'v1/ConfigMap': { model: ConfigMap, type: ['kubernetes-models/v1/ConfigMap', 'IConfigMap'] },
  'v1/Service': { model: Service, type: ['kubernetes-models/v1/Service', 'IService'] },
  'apps/v1/DaemonSet': { model: DaemonSet, type: ['kubernetes-models/apps/v1/DaemonSet', 'IDaemonSet'] },
  'monitoring.coreos.com/v1/PodMonitor': {
    model: PodMonitor, type: ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor', 'IPodMonitor'],
  },
  'monitoring.coreos.com/v1/PrometheusRule': {
    model: PrometheusRule, type: ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule', 'IPrometheusRule'],
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor, type: ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', 'IServiceMonitor'],
  },
};
const key = (m: Manifest) => `${m.doc.apiVersion}/${m.doc.kind}`;

/**
 * The schemas allow unknown fields (the API server drops them), so a typo such as `hostPid`
 * would pass them silently. Type-checking each manifest as an object literal of the model's
 * TypeScript type rejects any property the schema does not define, at any depth.
 */
function unknownFieldErrors(docs: Manifest[]): string[] {
  const file = join(ROOT, 'test/deploy', `.strict-${process.pid}.ts`);
  const lines = docs.map((m, i) => {
    const [mod, type] = MODELS[key(m)]!.type;
    return `import type { ${type} as T${i} } from '${mod}';\nexport const m${i}: T${i} = ${JSON.stringify(m.doc)};`;
  });
  writeFileSync(file, lines.join('\n'));
  try {
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
      const m = at >= 0 ? docs[Math.floor(at / 2)] : undefined;
      return `${m ? `${m.file} ${m.doc.kind}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
  } finally {
    rmSync(file, { force: true });
  }
}

function run(cmd: string, args: string[], timeout = 30_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr }));
  });
}

const all = manifests();
const daemonSet = all.find((m) => m.doc.kind === 'DaemonSet')!.doc as unknown as IDaemonSet;
const configMap = all.find((m) => m.doc.kind === 'ConfigMap')!.doc as unknown as { data: Record<string, string> };
const container = daemonSet.spec!.template.spec!.containers[0]!;
/** The collector config the DaemonSet runs with, validated as the collector would. */
const deployedConfig = buildConfig(parseAllDocuments(configMap.data['config.yaml']!)[0]!.toJS());

describe('Kubernetes manifests', () => {
  it('are the expected kinds, each valid against its schema', () => {
    expect(all.map((m) => `${m.file}: ${key(m)}`)).toEqual([
      'configmap.yaml: v1/ConfigMap',
      'daemonset.yaml: apps/v1/DaemonSet',
      'exporters-configmap.yaml: v1/ConfigMap',
      'namespace.yaml: v1/Namespace',
      'podmonitor.yaml: monitoring.coreos.com/v1/PodMonitor',
      'prometheusrule.yaml: monitoring.coreos.com/v1/PrometheusRule',
      'service.yaml: v1/Service',
      'servicemonitor.yaml: monitoring.coreos.com/v1/ServiceMonitor',
    ]);
    for (const m of all) expect(() => new MODELS[key(m)]!.model(m.doc as never).validate(), m.file).not.toThrow();
  });

  it('the schema validation catches a wrong value, and the strict check an unknown field', () => {
    const bad = structuredClone(daemonSet);
    bad.spec!.template.spec!.containers[0]!.resources!.limits!.memory = 'lots';
    expect(() => new DaemonSet(bad).validate()).toThrow(/limits\/memory must match format "quantity"/);
    const typo = structuredClone(all.find((m) => m.doc.kind === 'DaemonSet')!);
    const spec = (typo.doc.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    spec.hostPid = spec.hostPID;
    delete spec.hostPID;
    const pm = structuredClone(all.find((m) => m.doc.kind === 'PodMonitor')!);
    (pm.doc.spec as { podMetricsEndpoints: Record<string, unknown>[] }).podMetricsEndpoints[0]!.intervall = '15s';
    expect(unknownFieldErrors([typo, pm])).toEqual([
      `daemonset.yaml DaemonSet: Object literal may only specify known properties, and '"hostPid"' does not exist in type 'IPodSpec'.`,
      expect.stringMatching(/^podmonitor\.yaml PodMonitor: Object literal may only specify known properties, and '"intervall"' does not exist in type /),
    ]);
  });

  it('have no field the schemas do not define', () => {
    expect(unknownFieldErrors(all)).toEqual([]);
  }, 60_000);

  it('the DaemonSet grants exactly the capabilities `bpfwasm check` says its config needs, and nothing privileged', async () => {
    const wanted = requiredCapabilities(deployedConfig).map(kubernetesName);
    expect(wanted).toEqual(['BPF', 'PERFMON']);
    expect(container.securityContext!.capabilities).toEqual({ drop: ['ALL'], add: wanted });
    // And the CLI itself, run on the same config file, says the same.
    const file = join(ROOT, 'test/deploy', `.config-${process.pid}.yaml`);
    writeFileSync(file, configMap.data['config.yaml']!);
    try {
      const r = await run(process.execPath, [CLI, 'check', '--config', file, '--no-sensors', '--output', 'json']);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.out) as CheckReport;
      expect(report.capabilities.required.map(kubernetesName)).toEqual(container.securityContext!.capabilities!.add);
    } finally {
      rmSync(file, { force: true });
    }
    expect(container.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(daemonSet.spec!.template.spec!.hostPID).toBe(true);
    expect(daemonSet.spec!.template.spec!.hostNetwork).toBeUndefined();
  });

  it('mounts the host paths read-only, probes /readyz and /healthz, sets requests and limits', () => {
    const pod = daemonSet.spec!.template.spec!;
    const hostPaths = Object.fromEntries(pod.volumes!.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
    expect(Object.values(hostPaths).sort()).toEqual(['/proc', '/sys/dev/block', '/sys/fs/cgroup', '/sys/kernel/btf']);
    for (const name of Object.keys(hostPaths)) {
      expect(container.volumeMounts!.find((m) => m.name === name), name).toMatchObject({ readOnly: true });
    }
    const mountOf = (path: string) => container.volumeMounts!.find((m) => hostPaths[m.name] === path)!.mountPath;
    expect(mountOf('/sys/kernel/btf')).toBe('/sys/kernel/btf'); // where the helper looks
    expect(mountOf('/sys/fs/cgroup')).toBe('/sys/fs/cgroup');
    expect(mountOf('/sys/dev/block')).toBe('/sys/dev/block');
    expect(container.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.resources!.requests).toHaveProperty('memory');
    expect(container.resources!.limits).toHaveProperty('memory');
    // The config comes from the ConfigMap, and the port it listens on is the one declared.
    expect(pod.volumes!.find((v) => v.name === 'config')!.configMap!.name).toBe('bpfwasm');
    expect(container.command!.slice(-2)).toEqual(['--config', '/etc/bpfwasm/config.yaml']);
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: deployedConfig.listen.port, protocol: 'TCP' }]);
  });

  it('the Service, PodMonitor and ServiceMonitor select the collector pods by their port name', () => {
    const labels = daemonSet.spec!.template.metadata!.labels!;
    const doc = (kind: string) => all.find((m) => m.doc.kind === kind)!.doc as Record<string, any>;
    for (const [k, v] of Object.entries(doc('Service').spec.selector as Record<string, string>)) expect(labels[k]).toBe(v);
    expect(doc('Service').spec.ports[0].targetPort).toBe('metrics');
    const svcLabels = doc('Service').metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(doc('ServiceMonitor').spec.selector.matchLabels as Record<string, string>)) expect(svcLabels[k]).toBe(v);
    for (const [k, v] of Object.entries(doc('PodMonitor').spec.selector.matchLabels as Record<string, string>)) expect(labels[k]).toBe(v);
    expect(doc('PodMonitor').spec.podMetricsEndpoints[0].port).toBe('metrics');
    expect(doc('ServiceMonitor').spec.endpoints[0].port).toBe('metrics');
    // Both scrape the shadow candidates too, for the exporter rollout dashboard.
    expect(doc('PodMonitor').spec.podMetricsEndpoints.map((e: { path: string }) => e.path)).toEqual(['/metrics', '/metrics/shadow']);
    expect(doc('ServiceMonitor').spec.endpoints.map((e: { path: string }) => e.path)).toEqual(['/metrics', '/metrics/shadow']);
  });

  it('the collector labels its node by the node name from the downward API, not the pod name', () => {
    const env = daemonSet.spec!.template.spec!.containers[0]!.env!;
    expect(env.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
  });
});

describe('Prometheus example configs', () => {
  for (const name of ['federate.yml', 'remote-write.yml']) {
    it(`${name} passes promtool check config`, async () => {
      const r = await run('promtool', ['check', 'config', join(ROOT, 'deploy/prometheus', name)]);
      expect(r.out).not.toMatch(/WARNING|FAILED/);
      expect(r.code).toBe(0);
      expect(r.out).toContain('SUCCESS');
    });
  }

  it('federation scrapes /federate with honor_labels and match[] selectors', () => {
    const text = readFileSync(join(ROOT, 'deploy/prometheus/federate.yml'), 'utf8');
    const cfg = parseAllDocuments(text)[0]!.toJS() as { scrape_configs: Record<string, any>[] };
    for (const job of cfg.scrape_configs) {
      expect(job.honor_labels, job.job_name).toBe(true);
      expect(job.metrics_path).toBe('/federate');
      expect(job.params['match[]'].length).toBeGreaterThan(0);
    }
    const rw = parseAllDocuments(readFileSync(join(ROOT, 'deploy/prometheus/remote-write.yml'), 'utf8'))[0]!.toJS();
    expect(rw.remote_write[0].url).toMatch(/^https:\/\//);
  });
});

describe('systemd unit', () => {
  const unit = readFileSync(UNIT, 'utf8');
  const values = (k: string) => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);

  it('passes systemd-analyze verify', async () => {
    const r = await run('systemd-analyze', ['verify', UNIT]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('scores OK or better in systemd-analyze security', async () => {
    const r = await run('systemd-analyze', ['security', '--offline=yes', UNIT]);
    expect(r.code).toBe(0);
    const score = Number(/Overall exposure level for bpfwasm\.service: ([0-9.]+)/.exec(r.out)?.[1]);
    expect(score).toBeLessThanOrEqual(3.0);
  });

  it('bounds and grants exactly the capabilities `bpfwasm check` says are needed, with the hardening on', () => {
    const wanted = requiredCapabilities(deployedConfig).join(' ');
    expect(values('CapabilityBoundingSet')).toEqual([wanted]);
    expect(values('AmbientCapabilities')).toEqual([wanted]);
    for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectKernelTunables', 'yes'],
      ['ProtectKernelModules', 'yes'], ['ProtectControlGroups', 'yes'], ['DynamicUser', 'yes']]) {
      expect(values(k!), k).toEqual([v]);
    }
  });

  it("its privilege model works: a non-root user holding only the unit's ambient capabilities passes check", async () => {
    const caps = values('AmbientCapabilities')[0]!.split(' ').map((c) => `+${c.slice(4).toLowerCase()}`).join(',');
    const r = await run('setpriv', [
      '--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs',
      `--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`, `--bounding-set=-all,${caps}`,
      process.execPath, CLI, 'check', '--output', 'json',
    ], 40_000);
    const report = JSON.parse(r.out) as CheckReport;
    expect(report.effectiveCapabilities.sort()).toEqual(requiredCapabilities(deployedConfig));
    expect(report.items.filter((i) => !i.ok && i.need === 'required')).toEqual([]);
    expect(r.code).toBe(0);
    for (const s of ['process', 'tcp', 'blockio', 'runqlat', 'oom'] as const) expect(report.sensors[s], s).toMatchObject({ ok: true });
  });
});
