// The built-in tcp exporter fed synthetic tcp_open/tcp_close/tcp_retransmit batches: exact
// values, label sets fixed by config, ephemeral ports collapsed, addresses formatted.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { buildAll } from '../../scripts/build-exporters.mjs';
import { encodeBatch, seriesId, testHost, valueOf, type RecordValues, type TestHost, run, feed, expectClean, loadBuilt } from './helpers.js';

const OPEN = RecordType.tcp_open;
const CLOSE = RecordType.tcp_close;
const RETRANS = RecordType.tcp_retransmit;
const OPENED = 'bpfwasm_tcp_connections_opened_total';
const CLOSED = 'bpfwasm_tcp_connections_closed_total';
const DURATION = 'bpfwasm_tcp_connection_duration_seconds';
const RECEIVED = 'bpfwasm_tcp_received_bytes_total';
const SENT = 'bpfwasm_tcp_sent_bytes_total';
const RETRANSMITS = 'bpfwasm_tcp_retransmits_total';

beforeAll(async () => {
  await buildAll();
});

async function load(settings: Record<string, string> = {}): Promise<{ exporter: Exporter; host: TestHost }> {
  const host = testHost({ settings: { tcp: settings } });
  return loadBuilt('tcp', host);
}

function v4(a: number, b: number, c: number, d: number): Uint8Array {
  return Uint8Array.from([a, b, c, d, ...Array(12).fill(0)]);
}

function v6(...groups: number[]): Uint8Array {
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { out[i * 2] = g >> 8; out[i * 2 + 1] = g & 0xff; });
  return out;
}

const LO = v4(127, 0, 0, 1);
/** A client connection (active) and the server's side of it (passive), on 127.0.0.1:8080. */
function conn(direction: 1 | 2, clientPort: number, extra: RecordValues = {}): RecordValues {
  const active = direction === 1;
  return {
    comm: active ? 'curl' : 'nginx', local_addr: LO, remote_addr: LO, family: 2, direction,
    local_port: active ? clientPort : 8080, remote_port: active ? 8080 : clientPort, ...extra,
  };
}

const labels = (direction: string, comm: string, local: string, remote: string) =>
  ({ direction, comm, local_port: local, remote_port: remote });

describe('tcp exporter', () => {
  it('subscribes to the three tcp records and declares the label sets without addresses by default', async () => {
    const { exporter, host } = await load();
    expect(exporter.subscriptions).toEqual([OPEN, CLOSE, RETRANS]);
    const names = (m: string) => host.store.families.find((f) => f.spec.name === m)!.spec.labelNames;
    for (const m of [OPENED, CLOSED, RECEIVED, SENT, DURATION]) expect(names(m)).toEqual(['direction', 'comm', 'local_port', 'remote_port']);
    expect(names(RETRANSMITS)).toEqual(['comm', 'local_port', 'remote_port']);
  });

  it('counts opens and closes per direction, collapsing the ephemeral side: one series however many client ports', async () => {
    const { exporter, host } = await load();
    const ports = Array.from({ length: 300 }, (_, i) => 40000 + i);
    await feed(exporter, OPEN, ports.flatMap((p) => [conn(1, p), conn(2, p)]));
    await feed(exporter, CLOSE, ports.slice(0, 200).flatMap((p) => [
      conn(1, p, { duration_ns: 2_000_000n, bytes_received: 5000n, bytes_acked: 100n }),
      conn(2, p, { duration_ns: 2_000_000n, bytes_received: 100n, bytes_acked: 5000n }),
    ]));
    const active = labels('active', 'curl', 'ephemeral', '8080');
    const passive = labels('passive', 'nginx', '8080', 'ephemeral');
    expect(valueOf(host.store, OPENED, active)).toBe(300);
    expect(valueOf(host.store, OPENED, passive)).toBe(300);
    expect(valueOf(host.store, CLOSED, active)).toBe(200);
    expect(valueOf(host.store, CLOSED, passive)).toBe(200);
    expect(valueOf(host.store, RECEIVED, active)).toBe(200 * 5000);
    expect(valueOf(host.store, SENT, active)).toBe(200 * 100);
    expect(valueOf(host.store, RECEIVED, passive)).toBe(200 * 100);
    expect(valueOf(host.store, SENT, passive)).toBe(200 * 5000);
    // opened, closed, received, sent and the histogram, for each direction: nothing per port.
    expect(host.store.seriesOf('tcp')).toBe(10);
    expectClean(exporter);
  });

  it('puts durations in the right buckets with the right sum', async () => {
    const { exporter, host } = await load();
    await feed(exporter, CLOSE, [
      conn(1, 40000, { duration_ns: 80_000n }), // 80 µs: le=0.0001
      conn(1, 40001, { duration_ns: 3_000_000n }), // 3 ms: le=0.005
      conn(1, 40002, { duration_ns: 90_000_000_000_000n }), // 25 h: +Inf
    ]);
    const h = host.store.histogram(seriesId(host.store, DURATION, labels('active', 'curl', 'ephemeral', '8080'))!);
    const bounds = [...host.store.families.find((f) => f.spec.name === DURATION)!.bounds];
    const at = (le: number) => h.cumulative[bounds.indexOf(le)];
    expect([at(0.0001), at(0.0005), at(0.001), at(0.005), at(86400), h.cumulative.at(-1)]).toEqual([1, 1, 1, 2, 2, 3]);
    expect(h.count).toBe(3);
    expect(h.sum).toBeCloseTo(0.00008 + 0.003 + 90_000, 6);
    expectClean(exporter);
  });

  it('keeps ephemeral port numbers with ephemeralPorts: keep', async () => {
    const { exporter, host } = await load({ ephemeralPorts: 'keep' });
    await feed(exporter, OPEN, [conn(1, 40000), conn(1, 40001), conn(2, 40000)]);
    expect(valueOf(host.store, OPENED, labels('active', 'curl', '40000', '8080'))).toBe(1);
    expect(valueOf(host.store, OPENED, labels('active', 'curl', '40001', '8080'))).toBe(1);
    expect(valueOf(host.store, OPENED, labels('passive', 'nginx', '8080', '40000'))).toBe(1);
    expect(valueOf(host.store, OPENED, labels('active', 'curl', 'ephemeral', '8080'))).toBe(0);
    expectClean(exporter);
  });

  it('attributes retransmits to the listening side when the local port was seen accepting', async () => {
    const { exporter, host } = await load();
    await feed(exporter, OPEN, [conn(2, 40000)]); // 8080 is a listening port from now on
    await feed(exporter, RETRANS, [
      { comm: 'nginx', local_addr: LO, remote_addr: LO, family: 2, state: 1, local_port: 8080, remote_port: 40000 },
      { comm: 'nginx', local_addr: LO, remote_addr: LO, family: 2, state: 1, local_port: 8080, remote_port: 40001 },
      { comm: 'curl', local_addr: LO, remote_addr: LO, family: 2, state: 1, local_port: 40002, remote_port: 443 },
      { comm: '', local_addr: LO, remote_addr: LO, family: 2, state: 1, local_port: 40003, remote_port: 22 },
    ]);
    expect(valueOf(host.store, RETRANSMITS, { comm: 'nginx', local_port: '8080', remote_port: 'ephemeral' })).toBe(2);
    expect(valueOf(host.store, RETRANSMITS, { comm: 'curl', local_port: 'ephemeral', remote_port: '443' })).toBe(1);
    // A socket whose process the sensor never saw (opened before it started).
    expect(valueOf(host.store, RETRANSMITS, { comm: 'unknown', local_port: 'ephemeral', remote_port: '22' })).toBe(1);
    expectClean(exporter);
  });

  it('adds formatted address labels with ipLabels: true, on counters but not on the histogram', async () => {
    const { exporter, host } = await load({ ipLabels: 'true' });
    const cases: [Uint8Array, Uint8Array, number, string, string][] = [
      [v4(10, 1, 2, 3), v4(192, 168, 0, 255), 2, '10.1.2.3', '192.168.0.255'],
      [v6(0, 0, 0, 0, 0, 0, 0, 1), v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), 10, '::1', '2001:db8::1:0:0:1'],
      [v6(0xfe80, 0, 0, 0, 0xa, 0xb, 0xc, 0xd), v6(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0), 10, 'fe80::a:b:c:d', '2001:db8:0:1::'],
      [v6(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001), v6(0, 0, 0, 0, 0, 0, 0, 0), 10, '::ffff:127.0.0.1', '::'],
      [v6(1, 2, 3, 4, 5, 6, 7, 8), v6(0x2001, 0, 1, 0, 0, 1, 0, 1), 10, '1:2:3:4:5:6:7:8', '2001:0:1::1:0:1'],
    ];
    await feed(exporter, OPEN, cases.map(([la, ra, family]) => ({ ...conn(1, 40000), local_addr: la, remote_addr: ra, family })));
    await feed(exporter, CLOSE, cases.map(([la, ra, family]) => ({ ...conn(1, 40000), local_addr: la, remote_addr: ra, family, duration_ns: 1n })));
    for (const [, , , local, remote] of cases) {
      const l = { ...labels('active', 'curl', 'ephemeral', '8080'), local_addr: local, remote_addr: remote };
      expect({ local, remote, opened: valueOf(host.store, OPENED, l), closed: valueOf(host.store, CLOSED, l) })
        .toEqual({ local, remote, opened: 1, closed: 1 });
    }
    const family = host.store.families.find((f) => f.spec.name === DURATION)!;
    expect(family.spec.labelNames).toEqual(['direction', 'comm', 'local_port', 'remote_port']);
    expect(host.store.histogram(seriesId(host.store, DURATION, labels('active', 'curl', 'ephemeral', '8080'))!).count).toBe(5);
    expect(host.store.families.find((f) => f.spec.name === RETRANSMITS)!.spec.labelNames)
      .toEqual(['comm', 'local_port', 'remote_port', 'local_addr', 'remote_addr']);
    expectClean(exporter);
  });

  it('reads ipLabels as off unless it is exactly "true"', async () => {
    const { host } = await load({ ipLabels: 'false' });
    expect(host.store.families.find((f) => f.spec.name === OPENED)!.spec.labelNames).not.toContain('local_addr');
  });

  it('counts a comm that is not UTF-8 under its ASCII-safe copy', async () => {
    const { exporter, host } = await load();
    await feed(exporter, OPEN, [{ ...conn(1, 40000), comm: Uint8Array.from([0x63, 0xff, 0x63]) }]);
    expect(valueOf(host.store, OPENED, labels('active', 'c?c', 'ephemeral', '8080'))).toBe(1);
    // The host's refusal of the raw bytes is recorded, the update itself was not lost.
    expect({ errors: exporter.errors, traps: exporter.traps, rejectedOps: exporter.rejectedOps }).toEqual({ errors: 0, traps: 0, rejectedOps: 0 });
    expect(exporter.lastError).toMatch(/UTF-8/);
  });

  it('refuses a batch whose length does not match its record size', async () => {
    const { exporter } = await load();
    const bytes = encodeBatch(OPEN, [conn(1, 40000)]);
    await run(exporter, CLOSE, bytes, 1);
    expect(exporter.errors).toBe(1);
  });
});
