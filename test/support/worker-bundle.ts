// Vitest global setup: tests import the collector from its TypeScript sources, but a worker
// thread needs JavaScript. Bundle the exporter worker entry once per run and point the
// runtime at it (src/exporters/host/thread.ts reads BPFWASM_EXPORTER_WORKER).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'rolldown';

export async function setup(): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-worker-'));
  await build({
    input: join(import.meta.dirname, '../../src/exporters/worker/worker.ts'),
    platform: 'node',
    logLevel: 'warn',
    output: { file: join(dir, 'worker.mjs'), format: 'esm' },
  });
  process.env.BPFWASM_EXPORTER_WORKER = join(dir, 'worker.mjs');
  return () => rmSync(dir, { recursive: true, force: true });
}
