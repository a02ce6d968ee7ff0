// `bpfwasm events`: a live tail of decoded kernel events, one line each, fitted to the terminal.
import { Command, InvalidArgumentError } from 'commander';
import type { ApiTarget } from '../api/client.js';
import { EventFilter, STREAMABLE_RECORDS } from '../api/event-filter.js';
import { connect, withApiOptions } from './api-options.js';
import { eventHeader, eventLayout, formatEvent, lostLine } from './render/events.js';
import { checkRecordOptions, recordEvents, withRecordOptions, type RecordOptions } from './events-record.js';

interface EventsOptions extends ApiTarget, RecordOptions {
  type?: string[];
  pid?: number;
  comm?: string;
  cgroup?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter(Boolean)];
}

async function events(opts: EventsOptions): Promise<void> {
  checkRecordOptions(opts);
  if (opts.record) {
    await recordEvents({ ...opts, record: opts.record });
    return;
  }
  // The collector checks these too; checking first keeps a typo from printing a header.
  new EventFilter({ types: opts.type ?? [], comm: opts.comm ?? '' });
  const client = connect(opts);
  const width = () => (process.stdout.isTTY ? process.stdout.columns : Infinity);
  let layout = eventLayout(width());
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(eventHeader(layout));
  process.stdout.on('resize', () => { layout = eventLayout(width()); });
  const stream = client.streamEvents({
    types: opts.type ?? [],
    pid: opts.pid ?? 0,
    comm: opts.comm ?? '',
    cgroup: opts.cgroup ?? '',
  });
  await new Promise<void>((resolve, reject) => {
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      stream.cancel();
      client.close();
      resolve();
    };
    // Ctrl-C, or a reader like `head` going away, ends the tail normally.
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? stop() : reject(err)));
    stream.on('data', (reply) => {
      if (reply.item === 'lost') out(lostLine((reply as { lost: { count: string } }).lost.count));
      else out(formatEvent((reply as { event: Parameters<typeof formatEvent>[0] }).event, layout));
    });
    stream.on('error', (err) => {
      if (stopped) return;
      stopped = true;
      client.close();
      reject(client.describe(err));
    });
    stream.on('end', () => {
      if (stopped) return;
      stopped = true;
      client.close();
      reject(new Error('the collector ended the stream (it is shutting down)'));
    });
  });
}

export function eventsCommand(): Command {
  return withRecordOptions(withApiOptions(new Command('events')))
    .description('print kernel events live as the collector decodes them (Ctrl-C to stop)')
    .option('-t, --type <types>', `record types, comma-separated or repeated (default all: ${STREAMABLE_RECORDS.map((r) => r.name).join(', ')})`, collect)
    .option('--pid <pid>', 'only this process id (tgid)', positiveInt)
    .option('--comm <name>', 'only this exact command name (at most 15 bytes)')
    .option('--cgroup <path|id>', 'only this cgroup v2 and the cgroups below it (path under the cgroup2 mount, or an id)')
    .addHelpText('after', `
A reader slower than the events (a slow terminal, a paused pipe) never slows the collector:
events are dropped for this stream only and a "lost N events" line says how many.

Examples:
  $ sudo bpfwasm events --type process_exec
  $ sudo bpfwasm events --type process_exit --comm nginx
  $ sudo bpfwasm events --type tcp_open,tcp_close --cgroup system.slice/nginx.service
  $ sudo bpfwasm events --pid 1234 | head -20
  $ sudo bpfwasm events --record nginx.bwrec --comm nginx --max-seconds 60`)
    .action(events);
}
