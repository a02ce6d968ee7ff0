// `bpfwasm events --record FILE`: the live record batches written as a recording
// (docs/RECORDING.md) that `bpfwasm exporters test --replay` runs a module over.
import { closeSync, openSync, writeSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { ApiTarget, RecordReply } from '../api/client.js';
import { EventFilter } from '../api/event-filter.js';
import { RECORD_SIZE } from '../ingest/generated/events.js';
import { RECORDING_FORMAT, RECORDING_VERSION, RecordingEncoder, type RecordingEnd, type RecordingHeader } from '../recording/format.js';
import { connect } from './api-options.js';

export interface RecordOptions extends ApiTarget {
  record?: string;
  type?: string[];
  pid?: number;
  comm?: string;
  cgroup?: string;
  maxEvents?: number;
  maxBytes?: number;
  maxSeconds?: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** The recording options of `bpfwasm events`. */
export function withRecordOptions(cmd: Command): Command {
  return cmd
    .option('--record <file>', 'write the raw records (every type, aggregates included, unless --type) to FILE for `bpfwasm exporters test --replay`, instead of printing them')
    .option('--max-events <n>', 'with --record: stop after N events', positiveInt)
    .option('--max-bytes <n>', 'with --record: stop before the file would pass N bytes', positiveInt)
    .option('--max-seconds <s>', 'with --record: stop after S seconds', positiveInt);
}

/** Refuses recording limits without --record, so they are never silently ignored. */
export function checkRecordOptions(opts: RecordOptions): void {
  if (opts.record) return;
  const given = (['maxEvents', 'maxBytes', 'maxSeconds'] as const).filter((k) => opts[k] !== undefined);
  if (given.length) throw new Error(`--${given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} only limits a recording: add --record FILE`);
}

/** Records until a limit, Ctrl-C or the collector's end; resolves with the END it wrote. */
export async function recordEvents(opts: RecordOptions & { record: string }, say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<RecordingEnd> {
  const types = opts.type ?? [];
  new EventFilter({ types, comm: opts.comm ?? '', aggregates: true }); // a typo fails before the file is made
  let fd: number;
  try {
    fd = openSync(opts.record, 'w', 0o644);
  } catch (e) {
    throw new Error(`cannot write ${opts.record}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const encoder = new RecordingEncoder();
  const limits = { events: opts.maxEvents ?? 0, bytes: opts.maxBytes ?? 0, seconds: opts.maxSeconds ?? 0 };
  let bytes = 0;
  const write = (frame: Buffer) => {
    writeSync(fd, frame);
    bytes += frame.length;
  };
  const client = connect(opts);
  const stream = client.recordEvents({ types, pid: opts.pid ?? 0, comm: opts.comm ?? '', cgroup: opts.cgroup ?? '' });
  const started = Date.now();
  const end: RecordingEnd = { events: 0, batches: 0, lost: 0, duration_ms: 0, stopped: '' };
  return new Promise<RecordingEnd>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = (why: string, error?: Error) => {
      if (end.stopped) return;
      end.stopped = why;
      end.duration_ms = Date.now() - started;
      if (timer) clearTimeout(timer);
      process.removeListener('SIGINT', interrupted);
      process.removeListener('SIGTERM', interrupted);
      stream.cancel();
      client.close();
      try {
        if (!error) write(encoder.end(end));
        closeSync(fd);
      } catch (e) {
        error ??= new Error(`cannot write ${opts.record}: ${(e as Error).message}`);
      }
      if (error) return reject(error);
      say(`recorded ${end.events} events in ${end.batches} batches (${bytes} bytes) to ${opts.record}; lost ${end.lost}; stopped by ${why}`);
      resolve(end);
    };
    const interrupted = () => stop('interrupted');
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    if (limits.seconds) timer = setTimeout(() => stop('seconds'), limits.seconds * 1000);
    stream.on('data', (reply: RecordReply) => {
      if (end.stopped) return;
      try {
        if ('start' in reply) {
          const header: RecordingHeader = {
            format: RECORDING_FORMAT, version: RECORDING_VERSION, schema_version: reply.start.schema_version,
            collector: reply.start.collector, max_batch_bytes: reply.start.max_batch_bytes, kernel: reply.start.kernel, arch: reply.start.arch,
            started_unix_ms: started, filter: { types, pid: opts.pid ?? 0, comm: opts.comm ?? '', cgroup: opts.cgroup ?? '' }, limits,
          };
          write(encoder.header(header));
        } else if ('lost' in reply) {
          end.lost += Number(reply.lost.count);
          write(encoder.lost(Number(reply.lost.count)));
        } else {
          const b = reply.batch;
          const size = RECORD_SIZE[b.record_type] ?? 0;
          if (size === 0 || b.records.length !== b.count * size) throw new Error(`the collector sent a batch of record type ${b.record_type} this bpfwasm cannot lay out (a newer collector?)`);
          // The count limit is exact: the batch that reaches it is cut.
          const count = limits.events ? Math.min(b.count, limits.events - end.events) : b.count;
          const seq = encoder.seq;
          const frames = [
            ...(b.names.length ? [encoder.names(b.names.map((n) => ({ kind: n.kind, id: BigInt(n.id), name: n.name })))] : []),
            encoder.clock(BigInt(b.monotonic_ns)),
            encoder.events(b.record_type, b.records.subarray(0, count * size), count),
          ];
          const length = frames.reduce((n, f) => n + f.length, 0);
          if (limits.bytes && bytes + length + END_FRAME_RESERVE > limits.bytes) {
            encoder.seq = seq; // those frames are not written: END follows the last written one
            return stop('bytes');
          }
          frames.forEach(write);
          end.events += count;
          end.batches++;
          if (limits.events && end.events >= limits.events) stop('events');
        }
      } catch (e) {
        stop('error', e as Error);
      }
    });
    stream.on('error', (err) => stop('error', client.describe(err)));
    stream.on('end', () => stop('collector'));
  });
}

/** Room kept under --max-bytes for the END frame. */
const END_FRAME_RESERVE = 256;
