// Exporters followed in OCI registries (exporters.oci): each entry polls its reference; when
// the manifest's digest changes, the artifact is pulled, checked (layout, name, ABI, every
// blob's digest and size, then the module's signature by the registry) and hot-swapped in, or
// run as the shadow candidate. An entry following the same version a shadow candidate runs is
// a promotion: moving the stable tag onto the candidate's digest promotes it on every node.
// Nothing a registry does stops what runs: failures are counted by reason, logged, and retried
// with backoff; a refused digest is not pulled again until the reference moves.
import { ABI_VERSION, LogLevel } from '../abi.js';
import type { ExporterManager } from '../host/management.js';
import { moduleVersion } from '../host/registry.js';
import { Meter, type Counter, type GaugeSeries } from '../../metrics/meter.js';
import type { SeriesStore } from '../../metrics/store.js';
import { BpfwasmError } from '../../errors.js';
import { OciError, type OciClient } from './client.js';
import { formatReference, parseReference, type OciReference } from './reference.js';
import { pullBlobs } from './transfer.js';

export interface OciEntry {
  readonly name: string;
  readonly ref: string;
  readonly pollSeconds: number;
  readonly shadow: boolean;
}

export interface OciSourceOptions {
  readonly entries: readonly OciEntry[];
  readonly manager: ExporterManager;
  /** The client for a registry (host[:port]), configured with its credentials and CA. */
  client(registry: string): OciClient;
  readonly maxModuleBytes: number;
  log(exporter: string, level: number, msg: string): void;
  readonly store?: SeriesStore;
}

/** Poll outcomes (`result` label): the first three are successes, the rest failure reasons. */
export const POLL_RESULTS = [
  'unchanged', 'updated', 'refused',
  'unreachable', 'timeout', 'auth', 'not_found', 'too_large', 'digest_mismatch', 'bad_response', 'bad_artifact',
] as const;
type PollResult = (typeof POLL_RESULTS)[number];

/** Refusals that the same bytes will always get: the digest is not tried again until the reference moves. */
const LASTING_REFUSALS: ReadonlySet<string> = new Set([
  'EXPORTER_UNSIGNED', 'EXPORTER_SIGNATURE_BAD', 'EXPORTER_KEY_UNKNOWN', 'EXPORTER_LOAD', 'EXPORTER_ABI', 'EXPORTER_BUDGET', 'EXPORTER_NAME_INVALID',
]);

/** Failures in a row stretch the poll interval up to this factor. */
const MAX_BACKOFF_FACTOR = 16;

interface Follower {
  readonly entry: OciEntry;
  readonly ref: OciReference;
  /** The last manifest digest acted on (applied or refused). */
  seen: string | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  polling: Promise<void> | undefined;
}

export class OciExporterSource {
  private readonly followers: Follower[];
  private closed = false;
  private readonly metrics: { polls: Counter; lastUpdateSeconds: GaugeSeries } | undefined;

  constructor(private readonly opts: OciSourceOptions) {
    this.followers = opts.entries.map((entry) => ({ entry, ref: parseReference(entry.ref), seen: undefined, failures: 0, timer: undefined, polling: undefined }));
    if (opts.store) {
      const m = new Meter(opts.store);
      this.metrics = {
        polls: m.counter('bpfwasm_exporter_oci_polls_total',
          'Polls of each exporters.oci reference, by outcome: unchanged, updated, refused (by a load check), or why the registry failed',
          ['exporter', 'role', 'result']),
        lastUpdateSeconds: m.gauge('bpfwasm_exporter_oci_last_update_seconds',
          'Time the last update from a registry took: manifest, blobs, verification and the swap').series(),
      };
    }
  }

  /** Starts every entry's first poll now. */
  start(): void {
    for (const f of this.followers) this.schedule(f, 0);
  }

  /** Stops polling and waits for a poll in progress. */
  async close(): Promise<void> {
    this.closed = true;
    for (const f of this.followers) clearTimeout(f.timer);
    await Promise.allSettled(this.followers.map((f) => f.polling));
  }

  /** Polls every entry once now and waits for it (for tests and `settled` checks). */
  async pollAll(): Promise<void> {
    await Promise.all(this.followers.map((f) => this.pollNow(f)));
  }

  private schedule(f: Follower, delayMs: number): void {
    if (this.closed) return;
    clearTimeout(f.timer);
    f.timer = setTimeout(() => void this.pollNow(f), delayMs).unref();
  }

  private pollNow(f: Follower): Promise<void> {
    if (f.polling) return f.polling;
    f.polling = this.poll(f).finally(() => {
      f.polling = undefined;
      // Backoff doubles per failure in a row; a 10% jitter keeps a fleet from polling in step.
      const factor = Math.min(2 ** f.failures, MAX_BACKOFF_FACTOR);
      this.schedule(f, f.entry.pollSeconds * 1000 * factor * (0.9 + Math.random() * 0.2));
    });
    return f.polling;
  }

  private async poll(f: Follower): Promise<void> {
    const { entry, ref } = f;
    const where = formatReference(ref);
    const started = performance.now();
    let result: PollResult;
    try {
      const client = this.opts.client(ref.registry);
      const { digest, bytes } = await client.manifest(ref.repository, ref.digest ?? ref.tag!);
      if (digest === f.seen) {
        result = 'unchanged';
      } else {
        let pulled;
        try {
          pulled = await pullBlobs(client, ref, { digest, bytes }, this.opts.maxModuleBytes);
          const { artifact } = pulled;
          if (artifact.name !== entry.name) throw new OciError('bad_artifact', `${where}@${digest} holds exporter ${JSON.stringify(artifact.name)}, not ${entry.name}`);
          if (artifact.abiVersion !== ABI_VERSION) throw new OciError('bad_artifact', `${where}@${digest} is built for ABI version ${artifact.abiVersion}; this collector runs ${ABI_VERSION}`);
        } catch (e) {
          // A digest's manifest never changes: one that is not ours is not pulled again until the reference moves (a corrupt blob is retried).
          if (e instanceof OciError && (e.reason === 'bad_artifact' || e.reason === 'too_large')) f.seen = digest;
          throw e;
        }
        const { module, signature } = pulled;
        const outcome = await this.apply(entry, `oci:${where}@${digest}`, module, signature);
        // A module refused for what it is stays refused; one refused for the moment (busy, init timeout) is tried again.
        if (outcome !== 'retry' && outcome !== 'waiting') f.seen = digest;
        result = outcome === 'retry' ? 'refused' : outcome === 'waiting' ? 'unchanged' : outcome;
        if (outcome === 'updated') this.metrics?.lastUpdateSeconds.set((performance.now() - started) / 1000);
      }
      f.failures = 0;
    } catch (e) {
      f.failures++;
      result = e instanceof OciError ? e.reason : 'bad_response';
      const retry = Math.min(2 ** f.failures, MAX_BACKOFF_FACTOR) * entry.pollSeconds;
      this.opts.log(entry.name, LogLevel.WARN, `${where}: ${result}: ${(e as Error).message}; what runs keeps running; next try in ~${retry} s`);
    }
    this.count(entry, result);
  }

  /** Brings the exporter in line with the pulled module: swap, shadow, promote, or nothing. */
  private async apply(entry: OciEntry, source: string, module: Buffer, signature: Buffer | undefined): Promise<PollResult | 'retry' | 'waiting'> {
    const { manager, log } = this.opts;
    const version = moduleVersion(module);
    const info = manager.describe().find((i) => i.name === entry.name);
    try {
      if (entry.shadow) {
        // A candidate runs beside a current version: until there is one, the entry waits (no error).
        if (!info?.current) return 'waiting';
        // A candidate is the difference from what runs: the same version needs none.
        if (info?.current?.version === version || info?.shadow?.version === version) return 'unchanged';
        await manager.install(entry.name, module, { signature, source, shadow: true });
        log(entry.name, LogLevel.INFO, `shadow candidate ${version} started from ${source}`);
      } else if (info?.current?.version === version) {
        return 'unchanged';
      } else if (info?.shadow?.version === version) {
        // The reference moved onto the candidate's version: it is promoted, as the CLI's promote does.
        await manager.promote(entry.name);
        log(entry.name, LogLevel.INFO, `promoted shadow candidate ${version}: ${source} now names it`);
      } else {
        await manager.install(entry.name, module, { signature, source });
        log(entry.name, LogLevel.INFO, `${info?.current ? 'swapped in' : 'loaded'} version ${version} from ${source}`);
      }
      return 'updated';
    } catch (e) {
      const why = e instanceof BpfwasmError ? `${e.code}: ${e.message}` : String(e);
      const lasting = e instanceof BpfwasmError && LASTING_REFUSALS.has(e.code);
      log(entry.name, LogLevel.ERROR, `${source} refused: ${why}; what runs keeps running${lasting ? '' : '; tried again at the next poll'}`);
      return lasting ? 'refused' : 'retry';
    }
  }

  private count(entry: OciEntry, result: PollResult): void {
    this.metrics?.polls.inc([entry.name, entry.shadow ? 'shadow' : 'current', result]);
  }
}
