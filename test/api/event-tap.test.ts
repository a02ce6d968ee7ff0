// The pipeline's tap: idle without streams, one decode per record shared by every stream that
// wants it, and the generated layouts turned into the API's Event.
import { describe, expect, it } from 'vitest';
import { EventFilter } from '../../src/api/event-filter.js';
import { EventTap } from '../../src/api/event-tap.js';
import type { ApiEvent } from '../../src/api/event-decode.js';
import { ResolveKind } from '../../src/resolve/index.js';
import { encodeBatch, RecordType } from '../../src/testing/index.js';

const resolver = { resolve: (kind: number, id: bigint | number) => (kind === ResolveKind.CGROUP_PATH && Number(id) === 42 ? '/system.slice/x.service' : undefined) };

describe('EventTap', () => {
  it('is inactive until a stream subscribes and again once the last one leaves', () => {
    const tap = new EventTap(resolver);
    expect(tap.active).toBe(false);
    const a = tap.subscribe({ filter: new EventFilter({}), deliver: () => {} });
    const b = tap.subscribe({ filter: new EventFilter({}), deliver: () => {} });
    a();
    a(); // twice is harmless
    expect(tap.active).toBe(true);
    b();
    expect(tap.active).toBe(false);
    expect(tap.subscribers).toBe(0);
  });

  it('decodes each record once for every stream whose filter passes it', () => {
    const tap = new EventTap(resolver);
    const all: ApiEvent[] = [];
    const sh: ApiEvent[] = [];
    const exits: ApiEvent[] = [];
    tap.subscribe({ filter: new EventFilter({ types: ['process_exec'] }), deliver: (e) => all.push(e) });
    tap.subscribe({ filter: new EventFilter({ types: ['process_exec'], comm: 'sh' }), deliver: (e) => sh.push(e) });
    tap.subscribe({ filter: new EventFilter({ types: ['process_exit'] }), deliver: (e) => exits.push(e) });
    tap.onBatch(RecordType.process_exec, encodeBatch(RecordType.process_exec, [
      { comm: 'sh', tgid: 10, pid: 10, ppid: 1, cpu: 1, timestamp_ns: 5_000_000_000n, cgroup_id: 42 },
      { comm: 'ls', tgid: 11, pid: 11, ppid: 10 },
    ]), 2);
    expect(all.map((e) => e.comm)).toEqual(['sh', 'ls']);
    expect(sh).toHaveLength(1);
    expect(sh[0]).toBe(all[0]); // the same object: decoded once
    expect(exits).toEqual([]);
    expect(all[0]).toMatchObject({
      type: 'process_exec', timestamp_ns: '5000000000', cpu: 1, pid: 10, tgid: 10, cgroup_id: '42',
      cgroup: '/system.slice/x.service', comm: 'sh', fields: { ppid: '1' },
    });
    // The wall time is the monotonic stamp moved onto the epoch: today, not 1970.
    const wallMs = Number(BigInt(all[0]!.wall_time_unix_ns) / 1_000_000n);
    expect(Math.abs(wallMs - Date.now())).toBeLessThan(10 * 365 * 86400_000);
  });

  it('adds the names the collector resolves: a signal name, IP addresses', () => {
    const tap = new EventTap(resolver);
    const got: ApiEvent[] = [];
    tap.subscribe({ filter: new EventFilter({}), deliver: (e) => got.push(e) });
    tap.onBatch(RecordType.process_exit, encodeBatch(RecordType.process_exit, [
      { comm: 'x', exit_signal: 9, lifetime_ns: 1500n }, { comm: 'y', exit_code: 3 },
    ]), 2);
    const v6 = new Uint8Array(16);
    v6[15] = 1;
    tap.onBatch(RecordType.tcp_open, encodeBatch(RecordType.tcp_open, [
      { local_addr: Uint8Array.from([127, 0, 0, 1, ...new Array(12).fill(0)]), remote_addr: Uint8Array.from([10, 1, 2, 3, ...new Array(12).fill(0)]), family: 2, local_port: 5000, remote_port: 443 },
      { local_addr: v6, remote_addr: Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 5]), family: 10 },
    ]), 2);
    expect(got[0]!.fields).toEqual({ ppid: '0', exit_code: '0', exit_signal: '9', exit_signal_name: 'SIGKILL', lifetime_ns: '1500' });
    expect(got[1]!.fields.exit_signal_name).toBeUndefined();
    expect(got[2]!.fields).toMatchObject({ local_ip: '127.0.0.1', remote_ip: '10.1.2.3', local_port: '5000', remote_port: '443', family: '2' });
    expect(got[2]!.fields.local_addr).toBe('7f000001000000000000000000000000');
    expect(got[3]!.fields).toMatchObject({ local_ip: '::1', remote_ip: '2001:db8::5' });
  });

  it('lets a stream leave while a batch is delivered without skipping another stream', () => {
    const tap = new EventTap(resolver);
    const seen: string[] = [];
    let leave = () => {};
    leave = tap.subscribe({ filter: new EventFilter({}), deliver: () => { seen.push('a'); leave(); } });
    tap.subscribe({ filter: new EventFilter({}), deliver: () => seen.push('b') });
    tap.onBatch(RecordType.process_exec, encodeBatch(RecordType.process_exec, [{}, {}]), 2);
    expect(seen).toEqual(['a', 'b', 'a', 'b']);
  });

  it('hands a recording whole batches cut to the records its filter passes, aggregates included', () => {
    const tap = new EventTap(resolver);
    const got: [number, Uint8Array, number][] = [];
    const stop = tap.subscribeBatches({ filter: new EventFilter({ comm: 'sh', aggregates: true }), deliverBatch: (t, r, n) => got.push([t, r, n]) });
    expect(tap.active).toBe(true);
    const batch = encodeBatch(RecordType.process_exec, [{ comm: 'sh', tgid: 1 }, { comm: 'ls', tgid: 2 }, { comm: 'sh', tgid: 3 }]);
    tap.onBatch(RecordType.process_exec, batch, 3);
    tap.onBatch(RecordType.process_exec, encodeBatch(RecordType.process_exec, [{ comm: 'ls' }]), 1);
    const all: [number, Uint8Array, number][] = [];
    const stopAll = tap.subscribeBatches({ filter: new EventFilter({ aggregates: true }), deliverBatch: (t, r, n) => all.push([t, r, n]) });
    const latency = encodeBatch(RecordType.syscall_latency, [{ nr: 1, count: 5 }]);
    tap.onBatch(RecordType.syscall_latency, latency, 1);
    tap.onBatch(RecordType.process_exec, batch, 3);
    expect(got.map(([t, , n]) => [t, n])).toEqual([[RecordType.process_exec, 2], [RecordType.process_exec, 2]]);
    expect(Buffer.from(got[0]![1])).toEqual(Buffer.concat([Buffer.from(encodeBatch(RecordType.process_exec, [{ comm: 'sh', tgid: 1 }])), Buffer.from(encodeBatch(RecordType.process_exec, [{ comm: 'sh', tgid: 3 }]))]));
    expect(all.map(([t, , n]) => [t, n])).toEqual([[RecordType.syscall_latency, 1], [RecordType.process_exec, 3]]);
    expect(Buffer.from(all[1]![1])).toEqual(Buffer.from(batch));
    expect(all[1]![1]).not.toBe(batch); // a copy: the pipeline's buffer is reused after the call
    stop();
    stopAll();
    expect(tap.active).toBe(false);
  });
});
