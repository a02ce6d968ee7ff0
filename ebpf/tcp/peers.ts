// Peers for the tcp tests: perl servers and clients run from uniquely named copies of perl, so
// the comm of every socket's process identifies the test's own connections on a busy host.
// perl-base (Debian essential) has IO::Socket::IP, so this needs no package beyond the base.
import { spawn, type ChildProcess } from 'node:child_process';
import { uniqueBinary } from '../../test/integration/support/processes.js';

// Listens on ADDR, prints its port, then per connection: reads NEED bytes, writes REPLY bytes
// and closes first (so both FINs are exchanged before either side reaches CLOSE). Prints
// "done" after COUNT connections and exits when its stdin closes.
export const SERVER = String.raw`
use strict; use IO::Socket::IP;
my ($addr, $count, $need, $reply) = @ARGV; $| = 1;
my $l = IO::Socket::IP->new(LocalHost => $addr, LocalPort => 0, Listen => 256) or die "listen: $@";
print $l->sockport, "\n";
for (1 .. $count) {
  my $c = $l->accept or die "accept: $!";
  my $buf = '';
  while (length($buf) < $need) { sysread($c, $buf, $need - length($buf), length($buf)) or die "read: $!"; }
  syswrite($c, 'y' x $reply) == $reply or die "write: $!" if $reply;
  close $c;
}
print "done\n"; <STDIN>;
`;

// Connects COUNT times to ADDR:PORT, one after the other: writes SEND bytes, reads to EOF,
// closes; prints each connection's local port.
export const CLIENT = String.raw`
use strict; use IO::Socket::IP;
my ($addr, $port, $count, $send) = @ARGV; $| = 1;
for (1 .. $count) {
  my $s = IO::Socket::IP->new(PeerHost => $addr, PeerPort => $port) or die "connect: $@";
  print $s->sockport, "\n";
  syswrite($s, 'x' x $send) == $send or die "write: $!" if $send;
  my $buf; 1 while sysread($s, $buf, 65536);
  close $s;
}
`;

export interface Proc {
  child: ChildProcess;
  comm: string;
  /** Lines printed so far; a failure appends "exit CODE: stderr". */
  lines: string[];
  exited: Promise<number | null>;
}

/** Runs `script` in a uniquely named perl, in network namespace `netns` if given. */
export function perl(prefix: string, script: string, args: (string | number)[], netns?: string): Proc {
  const bin = uniqueBinary('/usr/bin/perl', prefix);
  const argv = [bin.path, '-e', script, ...args.map(String)];
  // `ip netns exec` execs the program: the pid stays the one spawn returns.
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const p: Proc = { child, comm: bin.comm, lines: [], exited: new Promise((r) => child.on('close', (code) => r(code))) };
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const parts = out.split('\n');
    out = parts.pop()!;
    p.lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.on('close', (code) => { if (code) p.lines.push(`exit ${code}: ${err}`); });
  return p;
}

/** Line `index` of `p`'s output, once printed; fails if `p` failed first. */
export async function lineOf(p: Proc, index: number, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = p.lines[index];
    const failed = p.lines.find((x) => x.startsWith('exit '));
    if (failed) throw new Error(`${p.comm} failed: ${failed}`);
    if (l !== undefined) return l;
    if (Date.now() > deadline) throw new Error(`timed out waiting for line ${index} of ${p.comm}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Two network namespaces NAME-a (10.211.0.1) and NAME-b (10.211.0.2) joined by a veth pair. */
export class VethPair {
  readonly a: string;
  readonly b: string;
  static readonly A_ADDR = '10.211.0.1';
  static readonly B_ADDR = '10.211.0.2';

  constructor(readonly name: string, private readonly ip: (...args: string[]) => void) {
    this.a = `${name}-a`;
    this.b = `${name}-b`;
  }

  create(): void {
    this.ip('netns', 'add', this.a);
    this.ip('netns', 'add', this.b);
    this.ip('link', 'add', `${this.name}a`, 'netns', this.a, 'type', 'veth', 'peer', 'name', `${this.name}b`, 'netns', this.b);
    this.ip('-n', this.a, 'addr', 'add', `${VethPair.A_ADDR}/24`, 'dev', `${this.name}a`);
    this.ip('-n', this.b, 'addr', 'add', `${VethPair.B_ADDR}/24`, 'dev', `${this.name}b`);
    for (const [ns, dev] of [[this.a, `${this.name}a`], [this.b, `${this.name}b`]] as const) {
      this.ip('-n', ns, 'link', 'set', dev, 'up');
      this.ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  }

  /** Makes B unable to answer A (or able again): A's segments arrive, no ACK comes back. */
  blackhole(on: boolean): void {
    this.ip('-n', this.b, 'route', on ? 'add' : 'del', 'blackhole', `${VethPair.A_ADDR}/32`);
  }

  destroy(): void {
    for (const ns of [this.a, this.b]) {
      try { this.ip('netns', 'del', ns); } catch { /* never created */ }
    }
  }
}

// Sends 1000 bytes, waits for a line on stdin, sends 2000 more and prints "sent", waits for
// another line, closes. Its first output line is its local port.
export const STALLING_CLIENT = String.raw`
use strict; use IO::Socket::IP; my ($addr, $port) = @ARGV; $| = 1;
my $s = IO::Socket::IP->new(PeerHost => $addr, PeerPort => $port) or die "connect: $@";
print $s->sockport, "\n"; syswrite($s, 'x' x 1000);
<STDIN>; syswrite($s, 'x' x 2000); print "sent\n"; <STDIN>; close $s;
`;
