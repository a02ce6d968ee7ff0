// How an exporter is loaded: each module runs in its own WebAssembly instance on a shared
// exporter thread (thread.ts), never on the thread that serves HTTP. Failures of a running
// module are counted on its Exporter object, never thrown: one bad exporter must not stop
// the collector or the others.
import { limitsOf, type ExporterHost } from './limits.js';
import { ExporterMetrics } from './self-metrics.js';
import { IsolatedExporter, type InstanceRole } from './supervisor.js';

export { DEFAULT_LIMITS, limitsOf, type Exporter, type ExporterHost, type RuntimeLimits } from './limits.js';

/**
 * Loads one module into a slot of an exporter thread and resolves once it is running; rejects with a
 * BpfwasmError naming the module (EXPORTER_LOAD, EXPORTER_ABI, EXPORTER_INIT) otherwise.
 */
export async function loadExporter(
  name: string, bytes: Uint8Array, host: ExporterHost, metrics = new ExporterMetrics(host.store), role: InstanceRole = {}, version = '',
): Promise<IsolatedExporter> {
  const exporter = new IsolatedExporter(name, bytes, host, limitsOf(host), metrics.of(name, version), role);
  await exporter.start();
  return exporter;
}
