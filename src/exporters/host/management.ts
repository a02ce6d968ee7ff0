// What the API (gRPC, CLI) may do with exporters while the pipeline runs: list them, load a
// module or hot-swap a new version in, run a candidate as a shadow beside the current
// version, promote or abort it, unload. The registry implements it.
import type { ExporterState } from './self-metrics.js';

export interface ExporterVersionInfo {
  /** First 12 hex digits of the module's SHA-256. */
  readonly version: string;
  readonly state: ExporterState;
  /** A file path, "api", or "builtin". */
  readonly source: string;
  /** Key id of a verified signature, '' if none was checked. */
  readonly signedBy: string;
  readonly events: number;
  readonly batches: number;
  readonly traps: number;
  readonly timeouts: number;
  readonly restarts: number;
  readonly droppedEvents: number;
  readonly series: number;
  readonly lastError: string;
  readonly loadedAtUnixMs: number;
}

export interface ExporterInfo {
  readonly name: string;
  /** Undefined while a module that failed to load is only known by its error. */
  readonly current: ExporterVersionInfo | undefined;
  /** The candidate running beside the current version, if any. */
  readonly shadow: ExporterVersionInfo | undefined;
  /** Record type ids the current version subscribed to, ascending. */
  readonly subscriptions: readonly number[];
}

export interface InstallOptions {
  /** Content of the detached `.sig` file; checked against the trusted keys. */
  readonly signature?: Uint8Array;
  /** Start as a candidate beside the current version instead of replacing it. */
  readonly shadow?: boolean;
  /** Where the bytes came from, for status and logs ("api" by default). */
  readonly source?: string;
}

/**
 * Every method rejects with a BpfwasmError whose code says what went wrong (EXPORTER_NOT_FOUND,
 * EXPORTER_NO_SHADOW, EXPORTER_BUSY, a load or signature code); nothing changes then.
 */
export interface ExporterManager {
  describe(): ExporterInfo[];
  /** Loads `name`, or swaps a new version in for the running one (validated first; no event lost). */
  install(name: string, bytes: Uint8Array, options?: InstallOptions): Promise<ExporterInfo>;
  unload(name: string): Promise<void>;
  promote(name: string): Promise<ExporterInfo>;
  abort(name: string): Promise<ExporterInfo>;
}
