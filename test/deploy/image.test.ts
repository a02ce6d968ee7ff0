// The release image for real: `npm run image` builds it from Debian packages for amd64 and arm64,
// it round-trips through a real registry (Debian's docker-registry) by the DaemonSet's reference,
// and podman runs the amd64 one with exactly what the DaemonSet grants, on this host's kernel.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseFolded, startBurnC, type Workload } from '../profile/workloads.js';
import { ROOT, freePort, parseExposition, samples, waitFor } from '../integration/support/collector.js';
import { runTimes, uniqueBinary } from '../integration/support/processes.js';
import { startRegistry, type Registry } from '../support/registry.js';

const run = promisify(execFile);
const LAYOUT = join(ROOT, '.cache/image/oci');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const DEPLOY = join(ROOT, 'deploy/kubernetes');
const daemonSet = parse(readFileSync(join(DEPLOY, 'daemonset.yaml'), 'utf8'));
const pod = daemonSet.spec.template.spec;
const container = pod.containers[0];
const configYaml: string = parse(readFileSync(join(DEPLOY, 'configmap.yaml'), 'utf8')).data['config.yaml'];
// Debian 12's podman here: crun refuses the host's hybrid cgroup layout, and ulimits must stay
// below the machine's own (no CAP_SYS_RESOURCE to raise them): see the --ulimit flags below.
const PODMAN = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];

interface Descriptor { digest: string; size: number; platform?: { architecture: string } }
const blob = (digest: string): Buffer => readFileSync(join(LAYOUT, 'blobs/sha256', digest.replace('sha256:', '')));
const json = <T>(digest: string): T => JSON.parse(blob(digest).toString()) as T;

/** Every entry of a gzipped tar layer: path → { size, data offset } over the uncompressed bytes. */
function tarEntries(tar: Buffer): Map<string, { size: number; offset: number; type: string }> {
  const out = new Map<string, { size: number; offset: number; type: string }>();
  let longName: string | undefined;
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0;) {
    const field = (o: number, n: number): string => tar.toString('latin1', at + o, at + o + n).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1) || '0';
    const data = at + 512;
    if (type === 'x') longName = /\d+ path=(.*)\n/.exec(tar.toString('utf8', data, data + size))?.[1];
    else if (type !== 'g') {
      const prefix = field(345, 155);
      out.set((longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100))).replace(/^\.\//, ''), { size, offset: data, type });
      longName = undefined;
    }
    at = data + Math.ceil(size / 512) * 512;
  }
  return out;
}

interface Arch { manifest: string; tar: Buffer; entries: ReturnType<typeof tarEntries>; compressed: number }
const arches = new Map<string, Arch>();
let registry: Registry | undefined;

beforeAll(async () => {
  await run('bash', [join(ROOT, 'scripts/image.sh')], { cwd: ROOT, maxBuffer: 1 << 24 });
  const top = JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8')) as { manifests: (Descriptor & { annotations: Record<string, string> })[] };
  const tagged = top.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === VERSION)!;
  for (const m of json<{ manifests: Descriptor[] }>(tagged.digest).manifests) {
    const layer = json<{ layers: Descriptor[] }>(m.digest).layers[0]!;
    const tar = gunzipSync(blob(layer.digest));
    arches.set(m.platform!.architecture, { manifest: m.digest, tar, entries: tarEntries(tar), compressed: layer.size });
  }
}, 15 * 60_000);

afterAll(async () => {
  await registry?.stop();
});

describe('npm run image', () => {
  it('builds one multi-arch index with an amd64 and an arm64 image, each within 150 MB uncompressed', () => {
    expect([...arches.keys()].sort()).toEqual(['amd64', 'arm64']);
    for (const [arch, a] of arches) {
      expect(a.tar.length, `${arch} uncompressed`).toBeLessThanOrEqual(150e6);
      expect(a.compressed, `${arch} compressed`).toBeLessThan(a.tar.length / 2);
    }
  });

  it('holds the runtime only: Node 20, the helper for its arch, the built tree, production node_modules, no compiler', () => {
    const ELF_MACHINE: Record<string, number> = { amd64: 62, arm64: 183 };
    for (const [arch, a] of arches) {
      const has = (p: string): boolean => a.entries.has(p);
      for (const p of ['usr/bin/node', 'usr/share/nodejs/undici/undici-fetch.js', 'usr/local/bin/bpfwasm', 'opt/bpfwasm/dist/src/cli.js', 'opt/bpfwasm/dist/bundle/exporter-worker.cjs', 'opt/bpfwasm/exporters/build/process.wasm',
        'opt/bpfwasm/src/api/proto/bpfwasm.proto', 'opt/bpfwasm/node_modules/fastify/package.json']) expect(has(p), `${arch}: ${p}`).toBe(true);
      const helper = a.entries.get('opt/bpfwasm/ebpf/build/bpfwasm-helper')!;
      expect(a.tar.readUInt16LE(helper.offset + 18), `${arch} helper e_machine`).toBe(ELF_MACHINE[arch]);
      const paths = [...a.entries.keys()];
      expect(paths.filter((p) => /^usr\/bin\/(cc|gcc|clang|tsc|make|ld)(-|$)/.test(p) || /node_modules\/(typescript|vitest|assemblyscript|rolldown|@sinclair\/typebox)\//.test(p)), arch).toEqual([]);
      expect(paths.filter((p) => p.startsWith('opt/bpfwasm/dist/test/')), arch).toEqual([]);
    }
  });

  /** The arm64 image's helper, written out of its layer. */
  function arm64Helper(): string {
    const a = arches.get('arm64')!;
    const e = a.entries.get('opt/bpfwasm/ebpf/build/bpfwasm-helper')!;
    const exe = join(mkdtempSync(join(tmpdir(), 'bpfwasm-arm64-')), 'bpfwasm-helper');
    writeFileSync(exe, a.tar.subarray(e.offset, e.offset + e.size), { mode: 0o755 });
    return exe;
  }

  it("runs the arm64 image's helper (--help) under qemu-aarch64-static", () => {
    const r = spawnSync('qemu-aarch64-static', [arm64Helper(), '--help'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/^usage: bpfwasm-helper /m);
  });

  it("runs the arm64 image's helper in the kernel matrix's arm64 VM: --check on Debian's arm64 kernel", () => {
    const exe = arm64Helper();
    const r = spawnSync('bash', [join(ROOT, 'test/kernels/vmrun.sh'), '--kernel', '6.1-arm64', '--add', exe,
      '--out', join(exe, '..', 'out'), '--', `${exe} --check`], { encoding: 'utf8', timeout: 14 * 60_000 });
    expect(r.status, r.stdout.slice(-3000) + r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(/"kernel":"[^"]*-arm64"/);
    expect(r.stdout).toMatch(/"btf":\{"ok":true/);
    expect(r.stdout).toMatch(/"ringbuf":\{"ok":true/);
  }, 15 * 60_000);
});

describe('the image through a real registry and under podman', () => {
  let ref: string;

  it("round-trips through docker-registry: pushed with skopeo (both arches), pulled by the DaemonSet's reference", async () => {
    registry = await startRegistry();
    // The DaemonSet's reference with only the registry host swapped for the local one.
    const published: string = container.image;
    expect(published).toMatch(new RegExp(`^[^/]+/bpfwasm/bpfwasm:${VERSION.replace(/\./g, '\\.')}$`));
    ref = published.replace(/^[^/]+/, registry.host);
    await run('skopeo', ['copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${LAYOUT}:${VERSION}`, `docker://${ref}`]);
    const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout) as { manifests: Descriptor[] };
    expect(raw.manifests.map((m) => `${m.platform!.architecture}@${m.digest}`).sort())
      .toEqual([...arches].map(([arch, a]) => `${arch}@${a.manifest}`).sort());
    await run('podman', [...PODMAN, 'pull', '--quiet', '--tls-verify=false', ref]);
    const [inspected] = JSON.parse((await run('podman', ['image', 'inspect', ref])).stdout) as { Architecture: string; Id: string }[];
    expect(inspected!.Architecture).toBe('amd64');
    // An image's id is its config's digest: the pulled image is the amd64 one built here.
    expect(`sha256:${inspected!.Id}`).toBe(json<{ config: Descriptor }>(arches.get('amd64')!.manifest).config.digest);
  }, 180_000);

  describe("under podman with the DaemonSet's security context and mounts", () => {
    const name = `bpfwasm-image-test-${process.pid}`;
    let url: string;
    let burn: Workload | undefined;

    beforeAll(async () => {
      expect(ref, 'the registry round trip pulled the image').toBeDefined();
      const sc = container.securityContext;
      const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-podman-'));
      writeFileSync(join(dir, 'config.yaml'), configYaml);
      // containerd 1.6+'s and CRI-O 1.22+'s default profiles allow bpf(2) and perf_event_open(2) to
      // a holder of CAP_BPF / CAP_PERFMON; podman 4.3's own asks for CAP_SYS_ADMIN (and denies them
      // explicitly without it). Test under podman's profile with those two rules in its place:
      // what RuntimeDefault means on the runtimes the DaemonSet names.
      type Rule = { names: string[]; action: string; excludes?: { caps?: string[] } };
      const seccomp = JSON.parse(readFileSync('/usr/share/containers/seccomp.json', 'utf8')) as { syscalls: Rule[] };
      for (const rule of seccomp.syscalls) {
        if (rule.action === 'SCMP_ACT_ERRNO' && rule.excludes?.caps?.includes('CAP_SYS_ADMIN')) {
          rule.names = rule.names.filter((n) => n !== 'bpf' && n !== 'perf_event_open');
        }
      }
      seccomp.syscalls.push({ names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_BPF'] } } as Rule,
        { names: ['perf_event_open'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_PERFMON'] } } as Rule);
      writeFileSync(join(dir, 'seccomp.json'), JSON.stringify(seccomp));
      const mounts = (container.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[]).flatMap((m) => {
        const v = (pod.volumes as Record<string, any>[]).find((x) => x.name === m.name)!;
        if (v.hostPath) return ['-v', `${v.hostPath.path}:${m.mountPath}:${m.readOnly ? 'ro' : 'rw'}`];
        if (v.configMap) return ['-v', `${dir}:${m.mountPath}:ro`];
        if (v.emptyDir) return ['--tmpfs', `${m.mountPath}:rw,size=${String(v.emptyDir.sizeLimit).replace('Mi', 'm')}`];
        throw new Error(`volume ${m.name}: no podman equivalent in this test`);
      });
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      expect(pod.hostPID).toBe(true);
      expect(sc.readOnlyRootFilesystem).toBe(true);
      expect(sc.allowPrivilegeEscalation).toBe(false);
      await run('podman', [...PODMAN, 'run', '-d', '--name', name, '--pid=host', '--read-only', '--read-only-tmpfs=false',
        '--user', String(sc.runAsUser), '--cap-drop=all', `--cap-add=${(sc.capabilities.add as string[]).join(',')}`,
        '--security-opt', `seccomp=${join(dir, 'seccomp.json')}`, '--security-opt', 'no-new-privileges',
        '--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=5000:5000',
        '-p', `127.0.0.1:${port}:${container.ports[0].containerPort}`, '-e', 'NODE_NAME=image-test',
        ...mounts, `--entrypoint=${container.command[0]}`, ref, ...container.command.slice(1)]);
      const started = Date.now();
      await waitFor('the container /readyz', async () => {
        const state = (await run('podman', ['inspect', '-f', '{{.State.Status}}', name])).stdout.trim();
        if (state !== 'running') throw new Error(`container ${state}: ${(await run('podman', ['logs', name])).stderr}`);
        return (await fetch(`${url}/readyz`)).status === 200 ? true : undefined;
      }, 60_000, 200);
      console.log(`image: container start to /readyz in ${Date.now() - started} ms`);
    }, 90_000);

    afterAll(async () => {
      burn?.stop();
      spawnSync('podman', [...PODMAN, 'rm', '-f', name], { stdio: 'ignore' });
      if (ref) spawnSync('podman', ['rmi', ref], { stdio: 'ignore' }); // each run pulls under a new port
    });

    it("counts a host workload's execs exactly", async () => {
      const { path, comm } = uniqueBinary('/bin/true', 'bwimg');
      runTimes(path, 300);
      const counted = await waitFor('every exec counted', async () => {
        const m = parseExposition(await (await fetch(`${url}/metrics`)).text());
        const n = samples(m, 'bpfwasm_process_exec_total').get(`comm="${comm}"`);
        return n === 300 ? n : undefined;
      }, 20_000, 250).catch(async (e: Error) => {
        const m = parseExposition(await (await fetch(`${url}/metrics`)).text());
        throw new Error(`${e.message}; counted ${samples(m, 'bpfwasm_process_exec_total').get(`comm="${comm}"`)}`);
      });
      expect(counted).toBe(300);
    });

    it('profiles a host process by pid with named frames', async () => {
      // Started without capabilities: a process holding more than the container's two can be read
      // (its /proc/PID/maps) only with CAP_SYS_PTRACE, which the DaemonSet leaves optional.
      burn = startBurnC(['setpriv', '--bounding-set=-all', '--inh-caps=-all']);
      // As a person would on a node (kubectl exec): the CLI over the API socket inside the
      // container. Over HTTP the default http.profile: local refuses a client off the pod's loopback.
      const refused = await fetch(`${url}/flamegraph?pid=${burn.pid}&hz=99&seconds=1&format=folded`);
      expect(refused.status).toBe(403);
      const r = await run('podman', ['exec', name, 'bpfwasm', 'profile', '--pid', String(burn.pid), '--hz', '99', '--seconds', '3', '-o', '-', '--format', 'folded']);
      const stacks = parseFolded(r.stdout);
      // How many samples depends on what else runs on CPU 0 (its pin); the names are what is checked.
      expect(stacks.reduce((n, s) => n + s.count, 0)).toBeGreaterThan(0);
      expect(stacks.some((s) => s.frames.join(';').includes('main;burn_a'))).toBe(true);
    });

    it('keeps the host out of reach: the root filesystem and host mounts are read-only, two capabilities', async () => {
      for (const path of ['/opt/x', '/sys/fs/cgroup/x']) {
        const w = spawnSync('podman', ['exec', name, 'busybox', 'touch', path], { encoding: 'utf8' });
        expect(w.stderr).toMatch(/Read-only file system/);
      }
      const pid = (await run('podman', ['inspect', '-f', '{{.State.Pid}}', name])).stdout.trim();
      // CAP_PERFMON (38) and CAP_BPF (39), nothing else; no_new_privs as allowPrivilegeEscalation: false.
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(status).toMatch(/^CapEff:\s+000000c000000000$/m);
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      // For deploy/README's memory figures: the collector's and its helper's RSS in the container.
      const rss = (p: string): string => /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))![1]!;
      const helper = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0]!;
      const cgroup = (await run('podman', ['stats', '--no-stream', '--format', '{{.MemUsage}}', name])).stdout.trim();
      console.log(`image: RSS in the container: collector ${rss(pid)} kB, helper ${rss(helper)} kB; memory cgroup ${cgroup}`);
    });
  });
});
