// The example user exporter (exporters/examples/short-lived) loaded from exporters.dirs into a
// real collector: a shell under a unique comm forks known short- and long-lived children.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExporter } from '../../src/testing/index.js';
import {
  ROOT, onlySensors, samples, scrape, startCollector, waitFor, waitReady, type RunningCollector,
} from './support/collector.js';
import { uniqueBinary } from './support/processes.js';
import { freshTmpDir } from '../exporters/helpers.js';

const SHORT = 'bpfwasm_example_short_lived_processes_total';
const SUBSHELLS = 40;
const SLEEPERS = 5;

describe('short-lived example exporter on the real kernel', () => {
  let c: RunningCollector;

  beforeAll(async () => {
    const dir = freshTmpDir('example-dir');
    await buildExporter(join(ROOT, 'exporters', 'examples', 'short-lived'), join(dir, 'short-lived.wasm'));
    c = await startCollector({ helper: { statsMs: 200 }, sensors: onlySensors({ process: {} }), exporters: { dirs: [dir] } });
    await waitReady(c);
  });

  afterAll(async () => {
    expect(await c.stop()).toBe(0);
  });

  it('counts the children that lived under 10 ms by the parent comm, and not the ones that lived longer', async () => {
    const sh = uniqueBinary('/bin/sh', 'bsl');
    // `( : )` forks a subshell that exits at once; each `sleep 0.03` is forked by the shell too
    // (comm "sleep" after exec) but lives 30 ms or more.
    const script = `i=0; while [ $i -lt ${SUBSHELLS} ]; do ( : ); i=$((i+1)); done
      j=0; while [ $j -lt ${SLEEPERS} ]; do sleep 0.03 & j=$((j+1)); done; wait`;
    const r = spawnSync(sh.path, ['-c', script]);
    expect(r.status, String(r.stderr)).toBe(0);

    const own = `comm="${sh.comm}"`;
    const m = await waitFor('every exit of the shell and its subshells', async () => {
      const s = await scrape(c);
      // The shell and its subshells share its comm; the sleepers exit as "sleep".
      return samples(s, 'bpfwasm_process_lifetime_seconds_count').get(own) === SUBSHELLS + 1 ? s : undefined;
    });
    expect(m.get('bpfwasm_exporter_up{exporter="short-lived"}')).toBe(1);
    // The process exporter's own 10 ms bucket for the shell's comm: the subshells the kernel saw
    // live at most 10 ms (the shell itself lived 30 ms and more). The join must agree exactly;
    // on an idle machine that is all of them, on a loaded one a few may be preempted past 10 ms.
    const underTenMs = samples(m, 'bpfwasm_process_lifetime_seconds_bucket').get(`${own},le="0.01"`)!;
    expect(underTenMs).toBeGreaterThanOrEqual(SUBSHELLS * 0.75);
    const short = samples(m, SHORT);
    expect(short.get(`parent_comm="${sh.comm}"`)).toBe(underTenMs);
  });
});
