import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, defaultConfig, exporterSettings, loadConfig } from '../src/config.js';
import { helperArgs } from '../src/ingest/helper-args.js';
import { cgroup2Mount } from '../src/resolve/cgroup-paths.js';

describe('config', () => {
  it('defaults to port 9745 with every sensor but syscalls, and the built-in exporters', () => {
    const c = defaultConfig();
    expect(c.listen.port).toBe(9745);
    expect(c.sensors.process.enabled).toBe(true);
    expect(c.exporters.builtin).toBe(true);
    expect(c.sensors.syscalls.enabled).toBe(false); // opt-in: it costs every syscall on the host
    expect(helperArgs(c)).toEqual(['--sensors', 'process,tcp,blockio,runqlat,oom', '--ring-bytes', '4194304',
      '--poll-ms', '5', '--stats-ms', '1000', '--batch-bytes', '1048576', '--aggregate-ms', '1000', '--set', 'process.max_args=20']);
  });

  it('passes helper.busyPollMs only when set (0: the helper takes 80 × pollMs)', () => {
    const args = helperArgs(buildConfig({ helper: { pollMs: 2, busyPollMs: 30 } }));
    expect(args.slice(args.indexOf('--poll-ms'), args.indexOf('--poll-ms') + 4)).toEqual(['--poll-ms', '2', '--busy-poll-ms', '30']);
  });

  it('passes helper.wakeupBytes only when set (0: the helper takes a quarter of each sensor\'s ring)', () => {
    const args = helperArgs(buildConfig({ helper: { wakeupBytes: 4096 } }));
    expect(args.slice(args.indexOf('--wakeup-bytes'), args.indexOf('--wakeup-bytes') + 2)).toEqual(['--wakeup-bytes', '4096']);
  });

  it('maps sensor options to helper flags and exporter settings', () => {
    const c = buildConfig({
      helper: { aggregateMs: 250 },
      sensors: {
        syscalls: { enabled: true, pid: 42, comm: 'nginx', cgroup: '12345', ringBytes: 8192 },
        runqlat: { enabled: true, perCgroup: true, route: 'pid_hash' },
        tcp: { enabled: true, ipLabels: true, required: true, route: 'kprobe' },
        process: { required: true },
        oom: { route: 'auto' },
      },
      exporters: { settings: { tcp: { ephemeralPorts: 'keep' }, mine: { a: 'b' } } },
    });
    const args = helperArgs(c);
    expect(args.slice(0, 2)).toEqual(['--sensors', 'process,syscalls,tcp,blockio,runqlat,oom']);
    expect(args.slice(10)).toEqual(['--require', 'process,tcp', '--aggregate-ms', '250', '--ring', 'syscalls=8192', '--route', 'tcp=kprobe', '--route', 'runqlat=pid_hash',
      '--set', 'syscalls.filter_tgid=42', '--set', 'syscalls.filter_comm=nginx', '--set', 'syscalls.filter_cgroup=12345',
      '--set', 'process.max_args=20', '--set', 'runqlat.per_cgroup=1']);
    expect(exporterSettings(c, 'tcp')).toEqual({ ipLabels: 'true', ephemeralPorts: 'keep' });
    expect(exporterSettings(c, 'runqlat')).toEqual({ perCgroup: 'true' });
    expect(exporterSettings(c, 'mine')).toEqual({ a: 'b' });
  });

  it('takes exporter settings written as YAML numbers or booleans as their text', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-cfg-'));
    const file = join(dir, 'settings.yaml');
    writeFileSync(file, 'exporters:\n  settings:\n    mine: { depth: 3, ratio: 0.5, verbose: true, exact: "1.0", unquoted: 1.0 }\n');
    // Quoting keeps the exact text: YAML reads an unquoted 1.0 as the number 1.
    expect(exporterSettings(loadConfig(file), 'mine')).toEqual({ depth: '3', ratio: '0.5', verbose: 'true', exact: '1.0', unquoted: '1' });
  });

  it('resolves a syscalls cgroup path to its cgroup v2 id (the directory inode)', () => {
    const mount = cgroup2Mount();
    expect(mount, 'this host has a cgroup2 mount').toBeDefined();
    const id = statSync(mount!, { bigint: true }).ino;
    const c = buildConfig({ sensors: { syscalls: { enabled: true, cgroup: '/' } } });
    expect(helperArgs(c)).toContain(`syscalls.filter_cgroup=${id}`);
    const abs = buildConfig({ sensors: { syscalls: { enabled: true, cgroup: mount } } });
    expect(helperArgs(abs)).toContain(`syscalls.filter_cgroup=${id}`);
    const rootTree = helperArgs(buildConfig({ sensors: { syscalls: { enabled: true, cgroup: '/', subtree: true } } }));
    expect(rootTree.filter((a) => a.startsWith('syscalls.filter_cgroup'))).toEqual([]); // the root's subtree is everything
    expect(() => buildConfig({ sensors: { syscalls: { cgroup: String(id), subtree: true } } }))
      .toThrow('config: sensors.syscalls.subtree needs sensors.syscalls.cgroup to be a path');
  });

  it('loads YAML over the defaults and resolves paths against the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'listen:\n  port: 9999\nexporters:\n  dirs: [mine]\nhelper:\n  pollMs: 20\n');
    const c = loadConfig(file);
    expect(c.listen.port).toBe(9999);
    expect(c.listen.host).toBe('0.0.0.0');
    expect(c.helper.pollMs).toBe(20);
    expect(c.exporters.dirs).toEqual([join(dir, 'mine')]);
  });

  it.each([
    [{ listen: { prot: 1 } }, 'config: listen.prot is not a known setting (known: host, port)'],
    [{ listen: { port: 70000 } }, 'config: listen.port must be an integer from 0 to 65535, got 70000'],
    [{ listen: { host: 'not a host!' } }, 'config: listen.host must be an IP address or a host name, got "not a host!"'],
    [{ listen: { host: '' } }, 'config: listen.host must be an IP address or a host name, got ""'],
    [{ api: { tcp: { listen: 'not a host!:9746' } } }, 'config: api.tcp.listen must be host:port (e.g. 0.0.0.0:9746), got "not a host!:9746"'],
    [{ api: { tcp: { listen: '[::1x]:9746' } } }, 'config: api.tcp.listen must be host:port (e.g. 0.0.0.0:9746), got "[::1x]:9746"'],
    [{ api: { socket: `/run/${'s'.repeat(120)}.sock` } }, 'config: api.socket must be at most 107 bytes as an absolute path (a unix socket address), got 130'],
    [{ helper: { ringBytes: 5000 } }, 'config: helper.ringBytes must be a power of two, got 5000'],
    [{ sensors: { process: { enabled: 'yes' } } }, 'config: sensors.process.enabled must be true or false, got "yes"'],
    [{ sensors: { process: { enabled: false }, tcp: { enabled: false }, blockio: { enabled: false }, runqlat: { enabled: false }, oom: { enabled: false } } },
      'config: sensors must enable at least one sensor'],
    [{ sensors: { syscalls: { comm: 'a-very-long-command' } } }, 'config: sensors.syscalls.comm must be at most 15 bytes, got "a-very-long-command"'],
    [{ sensors: { tcp: { ringBytes: 5000 } } }, 'config: sensors.tcp.ringBytes must be a power of two, got 5000'],
    [{ sensors: { tcp: { required: 'yes' } } }, 'config: sensors.tcp.required must be true or false, got "yes"'],
    [{ sensors: { syscalls: { required: true } } }, 'config: sensors.syscalls.required needs sensors.syscalls.enabled'],
    [{ sensors: { tcp: { ephemeralPorts: 'drop' } } }, 'config: sensors.tcp.ephemeralPorts must be one of collapse, keep, got "drop"'],
    [{ sensors: { tcp: { route: 'raw_tp' } } }, 'config: sensors.tcp.route must be one of auto, tp_btf, fentry, kprobe, got "raw_tp"'],
    [{ sensors: { process: { route: 'fentry' } } }, 'config: sensors.process.route must be one of auto, got "fentry"'],
    [{ sensors: { runqlat: { route: 'kprobe' } } }, 'config: sensors.runqlat.route must be one of auto, task_storage, pid_hash, got "kprobe"'],
    [{ sensors: { blockio: { route: 'fentry' } } }, 'config: sensors.blockio.route must be one of auto, tp_btf, raw_tp, got "fentry"'],
    [{ sensors: { syscalls: { cgroup: '/no/such/cgroup' } } }, 'config: sensors.syscalls.cgroup names no cgroup v2 group'],
    [{ exporters: { settings: { tcp: { ipLabels: [true] } } } }, 'config: exporters.settings.tcp.ipLabels must be a string, got [true]'],
    [{ exporters: { settings: { tcp: { ipLabels: null } } } }, 'config: exporters.settings.tcp.ipLabels must be a string, got null'],
    [{ exporters: { dirs: 'x' } }, 'config: exporters.dirs must be a list of paths'],
    [{ helper: { wakeupBytes: 8192, ringBytes: 4096 } }, 'config: helper.wakeupBytes must be smaller than helper.ringBytes (4096)'],
    [{ helper: { pollMs: 10, busyPollMs: 5 } }, 'config: helper.busyPollMs must be 0 or at least helper.pollMs (10)'],
    [{ federate: { externalLabels: { node: 'a\u0000b' } } },
      'config: federate.externalLabels.node label value contains control character U+0000 at offset 1'],
    [[1], 'config: the document must be a mapping'],
    // Keys of Object.prototype are unknown settings like any other (they crashed with a TypeError).
    [{ listen: { hasOwnProperty: 0 } }, 'config: listen.hasOwnProperty is not a known setting (known: host, port)'],
    [JSON.parse('{"__proto__": {"polluted": 1}}'), 'config: __proto__ is not a known setting (known: listen,'],
    [{ '': 1 }, 'config: "" is not a known setting (known: listen,'],
  ])('rejects %j with a message naming the key', (doc, message) => {
    expect(() => buildConfig(doc)).toThrow(message);
  });

  it('refuses YAML that parses only with a warning (an unknown tag) instead of printing it raw', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-config-'));
    writeFileSync(join(dir, 'tag.yaml'), 'listen: !port 80\n');
    expect(() => loadConfig(join(dir, 'tag.yaml'))).toThrow(`config: ${join(dir, 'tag.yaml')} is not valid YAML: Unresolved tag: !port`);
  });

  it('names the file when it cannot be read or parsed', () => {
    expect(() => loadConfig('/nonexistent/bpfwasm.yaml')).toThrow(/cannot read \/nonexistent\/bpfwasm.yaml/);
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-config-'));
    writeFileSync(join(dir, 'bad.yaml'), 'listen: [');
    expect(() => loadConfig(join(dir, 'bad.yaml'))).toThrow(/bad.yaml is not valid YAML/);
  });
});

describe('config: log.loki and process exit logging', () => {
  it('ships nothing by default, and logs the listed exits (not found, crashes, kills) through the process exporter', () => {
    const c = defaultConfig();
    expect(c.log.loki).toEqual({
      url: '', labels: {}, batchIntervalMs: 1000, maxBufferedLines: 10_000, timeoutMs: 5000,
      basicAuth: { username: '', password: '' }, bearerToken: '', headers: {},
    });
    expect(exporterSettings(c, 'process')).toEqual({ logExits: 'listed', logExitCodes: '126,127', logExitSignals: 'SIGABRT,SIGBUS,SIGFPE,SIGILL,SIGKILL,SIGSEGV,SIGSYS' });
    expect(exporterSettings(buildConfig({ sensors: { process: { logExits: 'signals', logExitCodes: [1, 2] } } }), 'process')).toMatchObject({ logExits: 'signals', logExitCodes: '1,2' });
  });

  it('takes a Loki URL, labels, bounds and credentials', () => {
    const c = buildConfig({ log: { level: 'debug', loki: {
      url: 'https://loki.example:3100', labels: { job: 'edge', cluster: 'eu-1' }, batchIntervalMs: 250,
      maxBufferedLines: 500, timeoutMs: 2000, basicAuth: { username: 'u', password: 'p' },
    } } });
    expect(c.log.level).toBe('debug');
    expect(c.log.loki).toMatchObject({ url: 'https://loki.example:3100', labels: { job: 'edge', cluster: 'eu-1' }, maxBufferedLines: 500 });
  });

  it('refuses what would break shipping, naming the key', () => {
    const loki = (v: Record<string, unknown>) => () => buildConfig({ log: { loki: v } });
    expect(loki({ url: 'ftp://x' })).toThrow('config: log.loki.url must be an http(s) URL');
    expect(loki({ url: 'http://u:p@loki:3100' })).toThrow('config: log.loki.url must not carry credentials');
    expect(loki({ labels: { level: 'x' } })).toThrow('config: log.loki.labels.level is not a valid Loki label name');
    expect(loki({ labels: { event: 'x' } })).toThrow('config: log.loki.labels.event is not a valid Loki label name');
    expect(loki({ labels: { __name__: 'x' } })).toThrow('config: log.loki.labels.__name__ is not a valid');
    expect(loki({ labels: { 'a-b': 'x' } })).toThrow('config: log.loki.labels.a-b is not a valid');
    expect(loki({ labels: { a: 1 } })).toThrow('config: log.loki.labels.a must be a string');
    expect(loki({ maxBufferedLines: 0 })).toThrow('config: log.loki.maxBufferedLines must be an integer from 1');
    expect(loki({ batchIntervalMs: 5 })).toThrow('config: log.loki.batchIntervalMs must be an integer from 10');
    expect(loki({ timeoutMs: 50 })).toThrow('config: log.loki.timeoutMs must be an integer from 100');
    expect(loki({ basicAuth: { username: 'u' } })).toThrow('config: log.loki.basicAuth needs both username and password');
    expect(loki({ basicAuth: { username: 'u', password: 'p' }, bearerToken: 't' })).toThrow('config: log.loki.bearerToken cannot be combined');
    expect(loki({ headers: { 'X Org': 'a' } })).toThrow('config: log.loki.headers.X Org is not a valid HTTP header name');
    expect(loki({ tenant: 'x' })).toThrow('config: log.loki.tenant is not a known setting');
    expect(() => buildConfig({ sensors: { process: { logExits: 'all' } } }))
      .toThrow('config: sensors.process.logExits must be one of listed, nonzero, signals, none, got "all"');
    expect(() => buildConfig({ sensors: { process: { logExitCodes: [0] } } })).toThrow(/sensors\.process\.logExitCodes\[0\] must be/);
    expect(() => buildConfig({ sensors: { process: { logExitSignals: ['SIGNOPE'] } } })).toThrow(/sensors\.process\.logExitSignals\[0\] must be one of SIGHUP/);
  });

  it('serves the API on /run/bpfwasm/api.sock by default, and TCP only with TLS and a token', () => {
    const c = defaultConfig();
    expect(c.api).toEqual({ enabled: true, socket: '/run/bpfwasm/api.sock', streamQueueEvents: 4096, tcp: { listen: '', tlsCert: '', tlsKey: '', tokenFile: '' } });
    const tcp = (v: Record<string, unknown>) => () => buildConfig({ api: { tcp: v } }, '/etc/bpfwasm');
    expect(tcp({ listen: '0.0.0.0:9746' })).toThrow('config: api.tcp.listen needs api.tcp.tlsCert, api.tcp.tlsKey, api.tcp.tokenFile: the TCP API is served only with TLS and a bearer token');
    expect(tcp({ listen: '0.0.0.0:9746', tlsCert: 'c.pem', tlsKey: 'k.pem' })).toThrow('config: api.tcp.listen needs api.tcp.tokenFile:');
    expect(tcp({ listen: '9746' })).toThrow('config: api.tcp.listen must be host:port (e.g. 0.0.0.0:9746), got "9746"');
    expect(tcp({ listen: 'host:70000' })).toThrow('config: api.tcp.listen must be host:port');
    const ok = buildConfig({ api: { socket: 'run/api.sock', tcp: { listen: '[::]:9746', tlsCert: 'c.pem', tlsKey: '/k.pem', tokenFile: 'token' } } }, '/etc/bpfwasm');
    expect(ok.api.socket).toBe('/etc/bpfwasm/run/api.sock');
    expect(ok.api.tcp).toEqual({ listen: '[::]:9746', tlsCert: '/etc/bpfwasm/c.pem', tlsKey: '/k.pem', tokenFile: '/etc/bpfwasm/token' });
    expect(() => buildConfig({ api: { streamQueueEvents: 0 } })).toThrow('config: api.streamQueueEvents must be an integer from 1');
    expect(() => buildConfig({ api: { port: 1 } })).toThrow('config: api.port is not a known setting');
  });
});

describe('node label', () => {
  it('is NODE_NAME when set (a pod, from the downward API), else the hostname', async () => {
    const { hostname } = await import('node:os');
    const saved = process.env.NODE_NAME;
    try {
      process.env.NODE_NAME = 'worker-7';
      expect(defaultConfig().federate.externalLabels).toEqual({ node: 'worker-7' });
      delete process.env.NODE_NAME;
      expect(defaultConfig().federate.externalLabels).toEqual({ node: hostname() });
    } finally {
      if (saved === undefined) delete process.env.NODE_NAME;
      else process.env.NODE_NAME = saved;
    }
  });
});

describe('config: exporters.oci and exporters.registries', () => {
  it('follows nothing by default; entries get pollSeconds 60 and shadow false; files resolve against the config', () => {
    expect(defaultConfig().exporters).toMatchObject({ oci: [], registries: {}, ociTimeoutSeconds: 30, ociMaxModuleBytes: 16 << 20 });
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-oci-config-'));
    writeFileSync(join(dir, 'pw'), 'secret\n');
    const c = buildConfig({
      exporters: {
        oci: [{ name: 'process', ref: 'r.example.com/b/process:stable' }, { name: 'process', ref: 'r.example.com/b/process:canary', shadow: true, pollSeconds: 5 }],
        registries: { 'r.example.com': { username: 'u', passwordFile: 'pw' } },
      },
    }, dir);
    expect(c.exporters.oci).toEqual([
      { name: 'process', ref: 'r.example.com/b/process:stable', pollSeconds: 60, shadow: false },
      { name: 'process', ref: 'r.example.com/b/process:canary', pollSeconds: 5, shadow: true },
    ]);
    expect(c.exporters.registries['r.example.com']).toEqual({ username: 'u', passwordFile: join(dir, 'pw'), caFile: '', plainHttp: false });
  });

  it.each<[string, unknown, string]>([
    ['not a list', { oci: {} }, 'config: exporters.oci must be a list'],
    ['a bad name', { oci: [{ name: 'Bad', ref: 'r.io/a:b' }] }, 'config: exporters.oci[0].name must be an exporter name'],
    ['no registry in the ref', { oci: [{ name: 'a', ref: 'a:b' }] }, 'config: exporters.oci[0].ref is not an OCI reference: it has no registry'],
    ['an unknown key', { oci: [{ name: 'a', ref: 'r.io/a:b', tag: 'x' }] }, 'config: exporters.oci[0].tag is not a known setting'],
    ['pollSeconds 0', { oci: [{ name: 'a', ref: 'r.io/a:b', pollSeconds: 0 }] }, 'config: exporters.oci[0].pollSeconds must be an integer from 1'],
    ['two current entries for one name', { oci: [{ name: 'a', ref: 'r.io/a:b' }, { name: 'a', ref: 'r.io/a:c' }] },
      "config: exporters.oci[1] is a second entry for a's current version"],
    ['a registry that is no host', { registries: { 'a b': {} } }, 'config: exporters.registries."a b" is not a registry host[:port]'],
    ['a user without a password file', { registries: { 'r.io': { username: 'u' } } }, 'needs both username and passwordFile'],
    ['an unreadable CA file', { registries: { 'r.io': { caFile: '/nonexistent/ca.pem' } } }, 'config: exporters.registries."r.io".caFile cannot be read: ENOENT'],
  ])('refuses %s, naming the key', (_what, exporters, message) => {
    expect(() => buildConfig({ exporters })).toThrow(message);
  });
});
