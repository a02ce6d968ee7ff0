// Stream filters read the raw record: types by schema name, tgid, exact comm, cgroup id, and a
// cgroup path with everything below it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AGGREGATE_RECORDS, EventFilter, STREAMABLE_RECORDS } from '../../src/api/event-filter.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { encodeBatch, RecordType, type RecordValues } from '../../src/testing/index.js';
import { RECORD_SIZE } from '../../src/ingest/generated/events.js';
import type { BpfwasmError } from '../../src/errors.js';

const PATHS = new Map<number, string>([
  [1, '/'], [10, '/system.slice'], [11, '/system.slice/nginx.service'], [12, '/system.slice/nginx.service/worker'],
  [13, '/system.slice/nginx.serviceX'], [20, '/user.slice'],
]);

/** Which of `records` (process_exec) pass `filter`. */
function passing(filter: EventFilter, records: RecordValues[]): number[] {
  const bytes = encodeBatch(RecordType.process_exec, records);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return records.flatMap((_, i) => (filter.matches(bytes, view, i * RECORD_SIZE[RecordType.process_exec]!) ? [i] : []));
}

describe('EventFilter', () => {
  it('streams every per-event record type by default, never the aggregates', () => {
    const f = new EventFilter({});
    expect(f.typeIds).toEqual([1, 19, 3, 14, 15, 16, 17, 18]);
    expect(STREAMABLE_RECORDS.map((r) => r.name)).toEqual(['process_fork', 'process_exec', 'process_exit', 'tcp_open', 'tcp_close', 'tcp_retransmit', 'oom_kill', 'bench_syscall']);
  });

  it('classifies aggregates as the schema documents them', () => {
    const schema = parse(readFileSync(join(PACKAGE_ROOT, 'ebpf/schema/events.yaml'), 'utf8')) as { records: { name: string; doc: string }[] };
    const documented = schema.records.filter((r) => r.doc.startsWith('Aggregate:')).map((r) => r.name);
    expect([...AGGREGATE_RECORDS].sort()).toEqual(documented.sort());
  });

  it('takes types by schema name and refuses unknown names and aggregates with the valid ones', () => {
    expect(new EventFilter({ types: ['process_exit', 'process_exec', 'process_exit'] }).typeIds).toEqual([3, 19]);
    expect(() => new EventFilter({ types: ['process_exek'] })).toThrow(/unknown event type "process_exek"; known: process_fork, process_exec/);
    expect(() => new EventFilter({ types: ['runqlat'] })).toThrow(/runqlat is an aggregate record/);
    try {
      new EventFilter({ types: ['nope'] });
    } catch (e) {
      expect((e as BpfwasmError).code).toBe('REQUEST_INVALID');
    }
  });

  it('matches the tgid, not the thread id', () => {
    const f = new EventFilter({ pid: 100 });
    expect(passing(f, [{ pid: 100, tgid: 100 }, { pid: 101, tgid: 100 }, { pid: 100, tgid: 99 }])).toEqual([0, 1]);
  });

  it('matches comm exactly: not a prefix, not a longer name, up to the full 15 bytes', () => {
    const f = new EventFilter({ comm: 'nginx' });
    expect(passing(f, [{ comm: 'nginx' }, { comm: 'nginx-worker' }, { comm: 'ngin' }, { comm: 'Nginx' }])).toEqual([0]);
    const long = new EventFilter({ comm: 'abcdefghijklmno' });
    expect(passing(long, [{ comm: 'abcdefghijklmno' }, { comm: 'abcdefghijklmn' }])).toEqual([0]);
    expect(() => new EventFilter({ comm: 'abcdefghijklmnop' })).toThrow(/longer than the kernel's 15 bytes/);
  });

  it('matches a cgroup id exactly, including ids above 2^32', () => {
    const big = 2n ** 40n + 7n;
    const f = new EventFilter({ cgroupId: big });
    expect(passing(f, [{ cgroup_id: big }, { cgroup_id: 7n }, { cgroup_id: 2n ** 40n }])).toEqual([0]);
  });

  it('matches a cgroup path and its descendants, not a sibling sharing the prefix, nor an unknown id', () => {
    const f = new EventFilter({ cgroup: 'system.slice/nginx.service' }, (id) => PATHS.get(id));
    expect(passing(f, [11, 12, 13, 10, 20, 999].map((id) => ({ cgroup_id: id })))).toEqual([0, 1]);
    const slash = new EventFilter({ cgroup: '/system.slice/' }, (id) => PATHS.get(id));
    expect(passing(slash, [11, 10, 20].map((id) => ({ cgroup_id: id })))).toEqual([0, 1]);
    const root = new EventFilter({ cgroup: '/' }, (id) => PATHS.get(id));
    expect(passing(root, [11, 999].map((id) => ({ cgroup_id: id })))).toEqual([0, 1]);
  });

  it('asks for an unknown cgroup again later (it may be new) but remembers known ones', () => {
    const paths = new Map<number, string>();
    let lookups = 0;
    const f = new EventFilter({ cgroup: 'a' }, (id) => { lookups++; return paths.get(id); });
    expect(passing(f, [{ cgroup_id: 5 }])).toEqual([]);
    paths.set(5, '/a/b');
    expect(passing(f, [{ cgroup_id: 5 }, { cgroup_id: 5 }])).toEqual([0, 1]);
    expect(lookups).toBe(2);
  });

  it('combines filters with and', () => {
    const f = new EventFilter({ pid: 7, comm: 'sh' });
    expect(passing(f, [{ tgid: 7, comm: 'sh' }, { tgid: 7, comm: 'bash' }, { tgid: 8, comm: 'sh' }])).toEqual([0]);
  });
});
