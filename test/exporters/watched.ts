// A registry fed by a directory watcher, as the collector wires them, for the watch and ConfigMap tests.
import { writeU32 } from '../../src/exporters/worker/memory-cap.js';
import { ExporterRegistry } from '../../src/exporters/host/registry.js';
import type { TrustPolicy } from '../../src/exporters/host/signing.js';
import { ExporterDirWatcher } from '../../src/exporters/host/watch.js';
import { testHost } from './helpers.js';

/** `base` with a custom section holding `tag`: a distinct module version that behaves the same. */
export function taggedVariant(base: Uint8Array, tag: string): Uint8Array {
  const name = Buffer.from('bpfwasm.test');
  const body = [...writeU32(name.length), ...name, ...Buffer.from(tag)];
  return Uint8Array.from([...base, 0, ...writeU32(body.length), ...body]);
}

/**
 * Watches `dir` into a fresh registry (requiring signatures by `trust` when given); every log line
 * is kept in `lines` as "exporter: message". Push `close` to the test's cleanup.
 */
export function watchedRegistry(dir: string, opts: { trust?: TrustPolicy; settleMs?: number } = {}) {
  const host = testHost();
  const registry = new ExporterRegistry(host, opts.trust);
  const lines: string[] = [];
  const watcher = new ExporterDirWatcher({
    dirs: [dir], manager: registry, settleMs: opts.settleMs ?? 50, recheckMs: 50, store: host.store, trust: opts.trust,
    log: (exporter, level, msg) => {
      lines.push(`${exporter}: ${msg}`);
      host.log(exporter, level, msg);
    },
  });
  watcher.start();
  const close = async () => {
    await watcher.close();
    await registry.close();
  };
  return { host, registry, watcher, lines, close };
}
