// The Rust SDK's example exporter (exporters/examples/rust-exits), built with Debian's rustc and
// loaded from exporters.dirs into a real collector: a uniquely named shell exits with known
// codes and signals, and every exit is counted exactly under its comm and outcome.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExporter } from '../../src/testing/index.js';
import {
  ROOT, onlySensors, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector,
} from './support/collector.js';
import { uniqueBinary } from './support/processes.js';
import { freshTmpDir } from '../exporters/helpers.js';
import { useDebianRustc } from '../exporters/rust.js';

const EXITS = 'bpfwasm_example_rust_exits_total';
const RUNS = { '3': 30, '0': 20, SIGKILL: 10 };

describe('Rust example exporter on the real kernel', () => {
  let c: RunningCollector;
  let size = 0;

  beforeAll(async () => {
    useDebianRustc();
    const dir = freshTmpDir('rust-example-dir');
    size = statSync(await buildExporter(join(ROOT, 'exporters', 'examples', 'rust-exits'), join(dir, 'rust-exits.wasm'))).size;
    c = await startCollector({ helper: { statsMs: 200 }, sensors: onlySensors({ process: {} }), exporters: { dirs: [dir] } });
    await waitReady(c);
  }, 120_000);

  afterAll(async () => {
    expect(await c.stop()).toBe(0);
  });

  it('counts exits by comm and exit code or signal name, exactly', async () => {
    expect(size).toBeLessThanOrEqual(50 * 1024);
    const sh = uniqueBinary('/bin/sh', 'rsx');
    const loop = (n: number, body: string) => `i=0; while [ $i -lt ${n} ]; do "${sh.path}" -c '${body}'; i=$((i+1)); done`;
    const script = `${[loop(RUNS['3'], 'exit 3'), loop(RUNS['0'], 'exit 0'), loop(RUNS.SIGKILL, 'kill -9 $$')].join('\n')}\nexit 0`;
    const r = spawnSync('/bin/sh', ['-c', script]);
    expect(r.status, String(r.stderr)).toBe(0);

    const total = RUNS['3'] + RUNS['0'] + RUNS.SIGKILL;
    const own = `comm="${sh.comm}"`;
    const m = await waitFor(`all ${total} exits of ${sh.comm}`, async () => {
      const s = await scrape(c);
      return samples(s, 'bpfwasm_example_rust_lifetime_seconds_count').get(own) === total ? s : undefined;
    });
    expect(m.get('bpfwasm_exporter_up{exporter="rust-exits"}')).toBe(1);
    const exits = samples(m, EXITS);
    for (const [outcome, n] of Object.entries(RUNS)) expect(exits.get(`${own},outcome="${outcome}"`), outcome).toBe(n);
    expect([...exits.keys()].filter((k) => k.startsWith(`${own},`)).length).toBe(3);
    // Nothing refused, trapped or failed on the way.
    for (const kind of ['trap', 'returned_error', 'rejected_update', 'rejected_call']) {
      expect(m.get(`bpfwasm_exporter_errors_total{exporter="rust-exits",kind="${kind}"}`), kind).toBe(0);
    }
  });
});
