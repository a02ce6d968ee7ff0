// Loads the tcp sensor into the running kernel through the real helper and checks the
// records of connections the test makes between uniquely named processes. Needs root
// (CAP_BPF + CAP_PERFMON, and CAP_NET_ADMIN for the namespaces of the retransmit test);
// a helper that cannot be built or loaded fails these tests, it never skips them.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordType, TcpCloseOffset, TcpOpenOffset, TcpRetransmitOffset } from '../../src/ingest/generated/events.js';
import { FrameKind, StatKind as Stat } from '../../src/ingest/protocol.js';
import { freePort } from '../../test/integration/support/collector.js';
import { HelperRun, buildHelper, type EventRecord } from '../../test/support/helper-run.js';
import { CLIENT, SERVER, STALLING_CLIENT, VethPair, lineOf, perl } from './peers.js';

const ACTIVE = 1;
const PASSIVE = 2;
const AF_INET = 2;
const AF_INET6 = 10;
const TCP_ESTABLISHED = 1;

interface Tcp {
  type: number;
  pid: number;
  tgid: number;
  cgroupId: bigint;
  comm: string;
  localAddr: Buffer;
  remoteAddr: Buffer;
  localPort: number;
  remotePort: number;
  family: number;
  direction: number; // tcp_retransmit: state
  durationNs: bigint;
  bytesReceived: bigint;
  bytesAcked: bigint;
}

function tcp(r: EventRecord): Tcp {
  const f = r.fields;
  const close = r.type === RecordType.tcp_close;
  return {
    type: r.type, pid: r.pid, tgid: r.tgid, cgroupId: r.cgroupId, comm: r.comm,
    localAddr: f.local_addr as Buffer,
    remoteAddr: f.remote_addr as Buffer,
    localPort: f.local_port as number,
    remotePort: f.remote_port as number,
    family: f.family as number,
    direction: (r.type === RecordType.tcp_retransmit ? f.state : f.direction) as number,
    durationNs: close ? f.duration_ns as bigint : 0n,
    bytesReceived: close ? f.bytes_received as bigint : 0n,
    bytesAcked: close ? f.bytes_acked as bigint : 0n,
  };
}

/** The helper with only the tcp sensor, its records as Tcp. */
class Helper extends HelperRun {
  readonly tcp: Tcp[] = [];

  constructor() {
    super(['--sensors', 'tcp', '--poll-ms', '5', '--stats-ms', '200'], { onRecord: (r) => this.tcp.push(tcp(r)), keepRecords: false });
  }

  /** Records of `type` on a connection with `port` at either end. */
  of(type: number, port: number): Tcp[] {
    return this.tcp.filter((r) => r.type === type && (r.localPort === port || r.remotePort === port));
  }

  /** Sockets the helper now tracks: entries in its `conns` and `unclaimed` maps (its fds name the map ids). */
  mapEntries(): number {
    const ids = readdirSync(`/proc/${this.proc.pid}/fdinfo`).flatMap((fd) => {
      const m = /map_id:\s*(\d+)/.exec(readFileSync(`/proc/${this.proc.pid}/fdinfo/${fd}`, 'utf8'));
      return m ? [m[1]!] : [];
    });
    const tracking = [...new Set(ids)].filter((id) =>
      ['conns', 'unclaimed'].includes(JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'id', id], { encoding: 'utf8' })).name));
    if (tracking.length !== 2) throw new Error('no conns and unclaimed maps among the helper fds');
    return tracking.reduce((n, id) => n + JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'id', id], { encoding: 'utf8' })).length, 0);
  }
}

function addrBytes(ip: string): Buffer {
  const b = Buffer.alloc(16);
  if (isIPv6(ip)) {
    const [head, tail] = ip.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    groups.forEach((g, i) => { b.writeUInt16BE(parseInt(g, 16), i * 2); });
  } else {
    ip.split('.').forEach((o, i) => { b[i] = Number(o); });
  }
  return b;
}

let helper: Helper;

beforeAll(async () => {
  // Fails (does not skip) when the build or the toolchain is broken.
  buildHelper();
  helper = new Helper();
  await helper.waitReady();
});

afterAll(async () => {
  if (helper) await helper.stop('SIGTERM');
});

describe('tcp sensor', () => {
  it('announces its programs and record types', () => {
    const hello = helper.hello;
    expect(hello.sensors).toEqual([{
      id: 0, name: 'tcp',
      // Every route's programs; only the chosen route's load (README "Routes").
      programs: ['handle_set_state', 'handle_send', 'handle_recv', 'handle_destroy', 'handle_retransmit',
        'handle_send_fentry', 'handle_recv_fentry', 'handle_send_kprobe', 'handle_recv_kprobe'],
      record_types: [RecordType.tcp_open, RecordType.tcp_close, RecordType.tcp_retransmit],
      routes: ['tp_btf', 'fentry', 'kprobe'],
    }]);
  });

  it('lays out the endpoint fields of its three records alike', () => {
    const { direction, ...endpoints } = TcpOpenOffset;
    expect(TcpCloseOffset).toMatchObject({ ...endpoints, direction });
    expect(TcpRetransmitOffset).toMatchObject({ ...endpoints, state: direction });
  });

  it.each([
    ['IPv4', '127.0.0.1', AF_INET],
    ['IPv6', '::1', AF_INET6],
  ])('reports one %s connection on both sides with the processes that made it', async (_name, ip, family) => {
    const started = process.hrtime.bigint();
    const server = perl('bwsrv', SERVER, [ip, 1, 1000, 5000]);
    const port = Number(await lineOf(server, 0));
    const client = perl('bwcli', CLIENT, [ip, port, 1, 1000]);
    const clientPort = Number(await lineOf(client, 0));
    expect(await client.exited).toBe(0);
    await lineOf(server, 1); // "done"
    const wallNs = process.hrtime.bigint() - started;

    const closes = await helper.waitFor('two tcp_close', () => {
      const c = helper.of(RecordType.tcp_close, port);
      return c.length >= 2 && c;
    });
    const opens = helper.of(RecordType.tcp_open, port);
    expect(opens).toHaveLength(2);
    expect(closes).toHaveLength(2);
    const addr = addrBytes(ip);
    const ends = {
      [ACTIVE]: { tgid: client.child.pid, comm: client.comm, localPort: clientPort, remotePort: port },
      [PASSIVE]: { tgid: server.child.pid, comm: server.comm, localPort: port, remotePort: clientPort },
    };
    for (const r of [...opens, ...closes]) {
      const end = ends[r.direction as 1 | 2];
      expect(end).toBeDefined();
      // The header is the socket's process (single-threaded perl: pid == tgid), never a softirq's.
      expect({ tgid: r.tgid, pid: r.pid, comm: r.comm, localPort: r.localPort, remotePort: r.remotePort })
        .toEqual({ ...end, pid: end.tgid });
      expect(r.cgroupId).toBeGreaterThan(0n);
      expect(r.family).toBe(family);
      expect(r.localAddr).toEqual(addr);
      expect(r.remoteAddr).toEqual(addr);
    }
    expect(opens.map((r) => r.direction).sort()).toEqual([ACTIVE, PASSIVE]);
    for (const c of closes) {
      expect(c.durationNs).toBeGreaterThan(0n);
      expect(c.durationNs).toBeLessThan(wallNs);
    }
    // Payload only: the SYN and the FINs the kernel counts in sequence space are taken out.
    const active = closes.find((r) => r.direction === ACTIVE)!;
    const passive = closes.find((r) => r.direction === PASSIVE)!;
    expect({ received: active.bytesReceived, acked: active.bytesAcked }).toEqual({ received: 5000n, acked: 1000n });
    expect({ received: passive.bytesReceived, acked: passive.bytesAcked }).toEqual({ received: 1000n, acked: 5000n });
    server.child.stdin!.end();
    await server.exited;
  });

  it('balances opens and closes exactly over 100 connections, each close matching its open', async () => {
    const server = perl('bwsrv', SERVER, ['127.0.0.1', 100, 10, 0]);
    const port = Number(await lineOf(server, 0));
    const client = perl('bwcli', CLIENT, ['127.0.0.1', port, 100, 10]);
    expect(await client.exited).toBe(0);
    await lineOf(server, 1);
    await helper.waitFor('200 tcp_close', () => helper.of(RecordType.tcp_close, port).length >= 200);

    const key = (r: Tcp) => `${r.direction} ${r.comm} ${r.localPort} ${r.remotePort}`;
    const opens = helper.of(RecordType.tcp_open, port).map(key).sort();
    const closes = helper.of(RecordType.tcp_close, port).map(key).sort();
    expect(opens).toHaveLength(200);
    expect(closes).toEqual(opens);
    expect(opens.filter((k) => k.startsWith(`${ACTIVE} ${client.comm} `))).toHaveLength(100);
    expect(opens.filter((k) => k.startsWith(`${PASSIVE} ${server.comm} ${port} `))).toHaveLength(100);
    expect(new Set(client.lines).size).toBe(100); // 100 distinct client ports
    // Whichever side's socket ended first (a FIN_WAIT2 socket can end before the peer's FIN),
    // the byte counts are the payload: 10 bytes each way... of which the server sent none.
    const bytes = helper.of(RecordType.tcp_close, port).map((r) => `${r.direction}:${r.bytesReceived}/${r.bytesAcked}`);
    expect(bytes.filter((b) => b === `${ACTIVE}:0/10`)).toHaveLength(100);
    expect(bytes.filter((b) => b === `${PASSIVE}:10/0`)).toHaveLength(100);
    server.child.stdin!.end();
    await server.exited;
  });

  it('reports nothing for refused and never-accepted connections, and keeps no map entry for them', async () => {
    const before = helper.mapEntries();
    // A port nobody listens on: SYN_SENT, then RST to CLOSE.
    const refusedPort = await freePort();
    const refused = perl('bwref', `
      use IO::Socket::IP; my ($port) = @ARGV;
      for (1 .. 200) { IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port) and die "connected"; }`, [refusedPort]);
    expect(await refused.exited).toBe(0);
    // Established in the kernel but never accepted: the listener closes with them queued.
    const unaccepted = perl('bwuna', String.raw`
      use IO::Socket::IP; $| = 1;
      my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 64) or die;
      my $port = $l->sockport; print "$port\n";
      my @c = map { IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port) or die } 1 .. 20;
      close $l; close $_ for @c;`, []);
    const unacceptedPort = Number(await lineOf(unaccepted, 0));
    expect(await unaccepted.exited).toBe(0);

    // The clients of the unaccepted connections did connect: their opens and closes balance.
    await helper.waitFor('20 active closes', () => helper.of(RecordType.tcp_close, unacceptedPort).length >= 20);
    expect(helper.of(RecordType.tcp_open, unacceptedPort).map((r) => r.direction)).toEqual(Array(20).fill(ACTIVE));
    expect(helper.of(RecordType.tcp_close, unacceptedPort).map((r) => r.direction)).toEqual(Array(20).fill(ACTIVE));
    expect(helper.of(RecordType.tcp_open, refusedPort)).toEqual([]);
    expect(helper.of(RecordType.tcp_close, refusedPort)).toEqual([]);
    // 220 sockets came and went; other connections on the host may come and go too.
    expect(helper.mapEntries()).toBeLessThan(before + 20);
  });

  it('sends STATS with no ring drops and no full map', async () => {
    const seen = helper.statsFrames.length;
    await helper.waitFor('a STATS frame', () => helper.statsFrames.length > seen);
    const last = helper.statsFrames.at(-1)!.stats;
    const sum = (kind: number) => last.filter((s) => s.kind === kind).reduce((a, s) => a + s.value, 0);
    expect(sum(Stat.RING_DROPS)).toBe(0);
    expect(sum(Stat.MAP_FULL)).toBe(0);
    // The fixed programs and one route's send/receive pair are loaded, nothing else.
    const loaded = last.filter((s) => s.kind === Stat.PROG_RUN_COUNT).map((s) => helper.hello.sensors[0].programs[s.index]).sort();
    expect(Object.values(ROUTE_PROGRAMS).map((pair) => [...FIXED_PROGRAMS, ...pair].sort())).toContainEqual(loaded);
    expect(helper.errors).toEqual([]);
  });
});

const FIXED_PROGRAMS = ['handle_set_state', 'handle_destroy', 'handle_retransmit'];
const ROUTE_PROGRAMS: Record<string, string[]> = {
  tp_btf: ['handle_send', 'handle_recv'],
  fentry: ['handle_send_fentry', 'handle_recv_fentry'],
  kprobe: ['handle_send_kprobe', 'handle_recv_kprobe'],
};

describe('tcp routes (--route)', () => {
  it('refuses a route the sensor does not have, naming its routes', async () => {
    const run = new HelperRun(['--sensors', 'tcp', '--route', 'tcp=raw_tp']);
    expect((await run.exited).code).toBe(1);
    expect(run.stderr).toBe("bpfwasm-helper: sensor 'tcp' has no route 'raw_tp'; its routes: tp_btf,fentry,kprobe\n");
  });

  // Kernel-dependent by nature: without the kprobe PMU the forced route must fail with the
  // reason; with it, the route must load exactly its own programs.
  it('forces the kprobe route, or fails clearly where this kernel has no kprobes', async () => {
    // --require: a sensor without a usable route would otherwise be left off (partial start).
    const run = new HelperRun(['--sensors', 'tcp', '--require', 'tcp', '--route', 'tcp=kprobe', '--stats-ms', '50']);
    if (!existsSync('/sys/bus/event_source/devices/kprobe')) {
      expect((await run.exited).code).toBe(4);
      expect(run.stderr).toMatch(/^bpfwasm-helper: required sensor 'tcp' failed to find a usable route: kprobe: no kprobe on tcp_sendmsg\/tcp_recvmsg$/m);
      expect(run.kinds).toEqual([FrameKind.HELLO]);
      return;
    }
    await run.waitFor('STATS', () => run.statsFrames.length > 0);
    await run.stop();
    const loaded = run.statsFrames.at(-1)!.stats.filter((s) => s.kind === Stat.PROG_RUN_COUNT).map((s) => run.hello.sensors[0].programs[s.index]);
    expect(loaded.sort()).toEqual([...FIXED_PROGRAMS, ...ROUTE_PROGRAMS.kprobe!].sort());
  });
});

// Two network namespaces joined by a veth pair. The peer loses its route back (a blackhole),
// so the client's segments arrive but are never acknowledged: the client retransmits. (Taking
// the peer link down instead keeps the originals queued locally, and the kernel refuses those
// retransmits with -EBUSY: nothing is sent, so nothing is counted.)
describe('tcp retransmits', () => {
  const net = new VethPair(`bw${process.pid.toString(36)}`.slice(0, 8),
    (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }));

  beforeAll(() => net.create());
  afterAll(() => net.destroy());

  it('attributes retransmits to the connecting process while the peer cannot answer', async () => {
    const server = perl('bwrsv', SERVER, [VethPair.B_ADDR, 1, 3000, 0], net.b);
    const port = Number(await lineOf(server, 0));
    const client = perl('bwrcl', STALLING_CLIENT, [VethPair.B_ADDR, port], net.a);
    const clientPort = Number(await lineOf(client, 0));
    await helper.waitFor('the active open', () => helper.of(RecordType.tcp_open, port).some((r) => r.direction === ACTIVE));
    expect(helper.mapEntries()).toBeGreaterThanOrEqual(2); // both ends are tracked while open

    net.blackhole(true);
    client.child.stdin!.write('go\n');
    await lineOf(client, 1);
    // RTO is at least 200 ms and doubles: two retransmits within about 0.6 s of the send.
    const retrans = await helper.waitFor('two retransmits', () => {
      const r = helper.of(RecordType.tcp_retransmit, port);
      return r.length >= 2 && r;
    });
    net.blackhole(false);
    for (const r of retrans) {
      expect({ tgid: r.tgid, comm: r.comm, localPort: r.localPort, remotePort: r.remotePort, family: r.family, state: r.direction })
        .toEqual({ tgid: client.child.pid, comm: client.comm, localPort: clientPort, remotePort: port, family: AF_INET, state: TCP_ESTABLISHED });
      expect(r.localAddr).toEqual(addrBytes(VethPair.A_ADDR));
      expect(r.remoteAddr).toEqual(addrBytes(VethPair.B_ADDR));
    }

    // Once B can answer again the data gets through and the connection closes normally.
    client.child.stdin!.end('end\n');
    expect(await client.exited).toBe(0);
    await lineOf(server, 1);
    const closes = await helper.waitFor('both closes', () => {
      const c = helper.of(RecordType.tcp_close, port);
      return c.length === 2 && c;
    }, 15_000);
    const active = closes.find((c) => c.direction === ACTIVE)!;
    const passive = closes.find((c) => c.direction === PASSIVE)!;
    expect([active.bytesAcked, active.bytesReceived, passive.bytesReceived, passive.bytesAcked]).toEqual([3000n, 0n, 3000n, 0n]);
    server.child.stdin!.end();
    await server.exited;
  });
});
