// deploy/prometheus/rollout-rules.yml: promtool accepts the recording and alert rules, and its
// unit tests (rollout-rules.test.yml) pass: fleet rates by candidate version, the ratio, and the
// divergence alert firing for a lagging candidate and staying quiet for a healthy one.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROMTOOL } from '../support/exposition-check.js';

const DIR = join(import.meta.dirname, '../../deploy/prometheus');

describe('fleet rollout recording rules and alert', () => {
  it('promtool check rules accepts them', () => {
    const r = spawnSync(PROMTOOL, ['check', 'rules', join(DIR, 'rollout-rules.yml')], { encoding: 'utf8' });
    expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0, out: expect.stringContaining('SUCCESS: 8 rules found') });
  });

  it('promtool test rules passes the unit tests', () => {
    const r = spawnSync(PROMTOOL, ['test', 'rules', 'rollout-rules.test.yml'], { cwd: DIR, encoding: 'utf8' });
    expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0, out: expect.stringContaining('SUCCESS') });
  });
});
