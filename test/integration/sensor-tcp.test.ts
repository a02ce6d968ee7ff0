// The tcp sensor end to end: the real helper and collector, the built-in tcp exporter, and
// connections between uniquely named processes, checked on /metrics.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT, SERVER, STALLING_CLIENT, VethPair, lineOf, perl } from '../../ebpf/tcp/peers.js';
import { samples, scrape, startCollector, waitFor, waitReady, onlySensors, type RunningCollector } from './support/collector.js';

describe('tcp sensor on the real kernel', () => {
  let c: RunningCollector;
  const net = new VethPair(`bi${process.pid.toString(36)}`.slice(0, 8),
    (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }));

  beforeAll(async () => {
    net.create();
    c = await startCollector({ sensors: onlySensors({ tcp: {} }), helper: { statsMs: 200 } });
    await waitReady(c);
  });

  afterAll(async () => {
    net.destroy();
    expect(await c.stop()).toBe(0);
  });

  it('counts 200 loopback connections opened and closed exactly, on both sides, with their bytes', async () => {
    const server = perl('bwsrv', SERVER, ['127.0.0.1', 200, 10, 0]);
    const port = await lineOf(server, 0);
    const client = perl('bwcli', CLIENT, ['127.0.0.1', port, 200, 10]);
    expect(await client.exited).toBe(0);
    await lineOf(server, 1); // "done": every connection was accepted and closed

    const active = `direction="active",comm="${client.comm}",local_port="ephemeral",remote_port="${port}"`;
    const passive = `direction="passive",comm="${server.comm}",local_port="${port}",remote_port="ephemeral"`;
    const m = await waitFor('200 closes on each side', async () => {
      const s = await scrape(c);
      const closed = samples(s, 'bpfwasm_tcp_connections_closed_total');
      return closed.get(active) === 200 && closed.get(passive) === 200 ? s : undefined;
    });
    const opened = samples(m, 'bpfwasm_tcp_connections_opened_total');
    expect(opened.get(active)).toBe(200);
    expect(opened.get(passive)).toBe(200);
    // Nothing else about this port: no per-connection port label anywhere.
    const mine = [...opened.keys()].filter((k) => k.includes(client.comm) || k.includes(server.comm));
    expect(mine.sort()).toEqual([active, passive].sort());
    expect(samples(m, 'bpfwasm_tcp_connection_duration_seconds_count').get(active)).toBe(200);
    expect(samples(m, 'bpfwasm_tcp_connection_duration_seconds_count').get(passive)).toBe(200);
    expect(samples(m, 'bpfwasm_tcp_connection_duration_seconds_sum').get(active)).toBeGreaterThan(0);
    // Payload bytes: each client sent 10, the server none.
    expect(samples(m, 'bpfwasm_tcp_sent_bytes_total').get(active)).toBe(200 * 10);
    expect(samples(m, 'bpfwasm_tcp_received_bytes_total').get(active)).toBe(0);
    expect(samples(m, 'bpfwasm_tcp_received_bytes_total').get(passive)).toBe(200 * 10);
    expect(samples(m, 'bpfwasm_tcp_sent_bytes_total').get(passive)).toBe(0);
    server.child.stdin!.end();
    await server.exited;
  });

  it('counts retransmits of a connection whose peer stops answering', async () => {
    const server = perl('bwrsv', SERVER, [VethPair.B_ADDR, 1, 3000, 0], net.b);
    const port = await lineOf(server, 0);
    const client = perl('bwrcl', STALLING_CLIENT, [VethPair.B_ADDR, port], net.a);
    await lineOf(client, 0);
    const label = `comm="${client.comm}",local_port="ephemeral",remote_port="${port}"`;
    const active = `direction="active",comm="${client.comm}",local_port="ephemeral",remote_port="${port}"`;
    await waitFor('the open', async () => (samples(await scrape(c), 'bpfwasm_tcp_connections_opened_total').get(active) === 1 ? true : undefined));
    expect(samples(await scrape(c), 'bpfwasm_tcp_retransmits_total').get(label)).toBeUndefined();

    net.blackhole(true);
    client.child.stdin!.write('go\n');
    await lineOf(client, 1);
    await waitFor('two retransmits', async () => ((samples(await scrape(c), 'bpfwasm_tcp_retransmits_total').get(label) ?? 0) >= 2 ? true : undefined));
    net.blackhole(false);

    client.child.stdin!.end('end\n');
    expect(await client.exited).toBe(0);
    await lineOf(server, 1);
    await waitFor('the close', async () => (samples(await scrape(c), 'bpfwasm_tcp_connections_closed_total').get(active) === 1 ? true : undefined));
    server.child.stdin!.end();
    await server.exited;
  });
});
