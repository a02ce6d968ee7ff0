// Runs an exporter module over a recording with the collector's own runtime: the module is
// loaded by an ExporterRegistry and every recorded batch goes through `dispatch`, the entry
// point live frames take, with the recording's resolver answers and batch size. No kernel,
// no root. Deterministic: batches are applied in order, the queue is never allowed to overflow,
// and the exposition is rendered from a store nothing else writes to.
import { defaultConfig, exporterLimits, exporterSettings, type Config } from '../config.js';
import { BpfwasmError } from '../errors.js';
import { LogLevel } from '../exporters/abi.js';
import { ExporterRegistry } from '../exporters/host/registry.js';
import type { ExporterHost } from '../exporters/host/runtime.js';
import { quarantineRecord } from '../logs/events.js';
import { serializeText } from '../metrics/exposition.js';
import { SeriesStore } from '../metrics/store.js';
import { decodeRecording, type RecordingEnd, type RecordingHeader } from './format.js';

export interface ReplayOptions {
  /** Collector config whose limits and exporter settings apply (default: the defaults). */
  config?: Config;
  /** Settings over the config's, as `--settings k=v`. */
  settings?: Record<string, string>;
}

export interface ReplayResult {
  header: RecordingHeader;
  /** The module's own series in the Prometheus text format, as /metrics would show them. */
  exposition: string;
  events: number;
  batches: number;
  /** Events the recording says it lost (a slow reader), and its END frame when it has one. */
  lostInRecording: number;
  end: RecordingEnd | undefined;
  /** What the runtime counted for the module: any non-zero is a problem the module has. */
  errors: number;
  traps: number;
  timeouts: number;
  dropped: number;
  rejectedOps: number;
  lastError: string;
  logs: { level: number; msg: string }[];
  /** `resolve` calls the recording had no answer for. */
  unanswered: number;
}

/** A refused load with what the module logged about it, as the collector logs them side by side. */
export function withModuleExplanation(e: unknown, logs: readonly { level: number; msg: string }[]): unknown {
  const said = logs.filter((l) => l.level >= LogLevel.ERROR).map((l) => l.msg).join('; ');
  if (!said || !(e instanceof BpfwasmError)) return e;
  return new BpfwasmError(e.code, `${e.message} (it logged: ${said})`, { cause: e });
}

export async function replay(name: string, wasm: Uint8Array, recording: Uint8Array, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const config = opts.config ?? defaultConfig();
  const frames = decodeRecording(recording);
  const first = frames.next();
  if (first.done || first.value.kind !== 'header') throw new BpfwasmError('RECORDING_INVALID', 'recording is invalid: it has no header');
  const header = first.value.header;
  const names = new Map<string, string>();
  const logs: ReplayResult['logs'] = [];
  let unanswered = 0;
  const store = new SeriesStore({
    maxSeriesPerOwner: config.exporters.maxSeriesPerExporter,
    maxLabelValueBytes: config.exporters.maxLabelValueBytes,
    maxSeriesPerMetric: config.metrics.maxSeriesPerMetric,
  });
  const settings = { ...exporterSettings(config, name), ...opts.settings };
  const limits = exporterLimits(config);
  const host: ExporterHost = {
    store,
    maxBatchBytes: header.max_batch_bytes,
    log: (exporter, level, msg) => { if (exporter === name) logs.push({ level, msg }); },
    quarantined: (q) => {
      const record = quarantineRecord(q);
      logs.push({ level: LogLevel.WARN, msg: q.detail ? `${record.msg} (${q.detail})` : record.msg });
    },
    resolve: (kind, id) => {
      const answer = names.get(`${kind}:${id}`);
      if (answer === undefined) unanswered++;
      return answer;
    },
    settings: (exporter) => (exporter === name ? settings : undefined),
    limits,
  };
  const registry = new ExporterRegistry(host);
  try {
    const exporter = await registry.load(name, wasm, 'replay').catch((e: unknown) => { throw withModuleExplanation(e, logs); });
    // Half the worker's queue between flushes: nothing is dropped for arriving faster than live.
    const perFlush = Math.max(1, Math.floor(limits.queueBatches / 2));
    let events = 0, batches = 0, lostInRecording = 0, pending = 0;
    let end: RecordingEnd | undefined;
    for (const frame of frames) {
      if (frame.kind === 'names') for (const n of frame.names) names.set(`${n.kind}:${n.id}`, n.name);
      else if (frame.kind === 'lost') lostInRecording += frame.events;
      else if (frame.kind === 'end') end = frame.end;
      else if (frame.kind === 'events') {
        registry.dispatch(frame.recordType, frame.payload, frame.count);
        events += frame.count;
        batches++;
        if (++pending >= perFlush) {
          pending = 0;
          await registry.flush();
        }
      }
    }
    await registry.flush();
    const owned = new Set<number>();
    for (const family of store.families) if (family.owner === name) for (const id of family.series) owned.add(id);
    const exposition = serializeText(store, { include: (id) => owned.has(id) }).toString('utf8');
    const d = exporter.dropped;
    return {
      header, exposition, events, batches, lostInRecording, end,
      errors: exporter.errors, traps: exporter.traps, timeouts: exporter.timeouts,
      dropped: d.queue_full + d.not_running + d.aborted, rejectedOps: exporter.rejectedOps, lastError: exporter.lastError,
      logs, unanswered,
    };
  } finally {
    await registry.close();
  }
}
