// `bpfwasm events`: a live tail of decoded kernel events, one line each, fitted to the terminal,
// or one JSON object a line for scripts; it stops on Ctrl-C, after --count events or --duration.
import { Command, InvalidArgumentError, Option } from 'commander';
import type { ApiTarget } from '../api/client.js';
import { EventFilter, STREAMABLE_RECORDS } from '../api/event-filter.js';
import { connect, withApiOptions } from './api-options.js';
import { eventHeader, eventJson, eventLayout, formatEvent, lostLine } from './render/events.js';
import { checkRecordOptions, recordEvents, withRecordOptions, type RecordOptions } from './events-record.js';

interface EventsOptions extends ApiTarget, RecordOptions {
  type?: string[];
  pid?: number;
  comm?: string;
  cgroup?: string;
  output: 'table' | 'json';
  count?: number;
  duration?: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** "30s", "5m", "1h", "250ms" or plain seconds, to milliseconds. */
export function durationMs(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'] : NaN;
  if (!(ms >= 1) || ms > 2 ** 31 - 1) throw new InvalidArgumentError('must be a duration like 30s, 5m, 1h or 250ms (at most 24 days)');
  return ms;
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
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let render: (event: Parameters<typeof formatEvent>[0]) => string;
  let lost: (count: string) => string;
  if (opts.output === 'json') {
    render = (event) => JSON.stringify(eventJson(event));
    lost = (count) => JSON.stringify({ type: 'lost', count: Number(count) });
  } else {
    const width = () => (process.stdout.isTTY ? process.stdout.columns : Infinity);
    let layout = eventLayout(width());
    out(eventHeader(layout));
    process.stdout.on('resize', () => { layout = eventLayout(width()); });
    render = (event) => formatEvent(event, layout);
    lost = lostLine;
  }
  const stream = client.streamEvents({
    types: opts.type ?? [],
    pid: opts.pid ?? 0,
    comm: opts.comm ?? '',
    cgroup: opts.cgroup ?? '',
  });
  let remaining = opts.count ?? Infinity;
  await new Promise<void>((resolve, reject) => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      stream.cancel();
      client.close();
      resolve();
    };
    // Ctrl-C, a reader like `head` going away, --count or --duration end the tail normally.
    if (opts.duration !== undefined) timer = setTimeout(stop, opts.duration);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? stop() : reject(err)));
    stream.on('data', (reply) => {
      if (stopped) return;
      if (reply.item === 'lost') {
        out(lost((reply as { lost: { count: string } }).lost.count));
        return;
      }
      out(render((reply as { event: Parameters<typeof formatEvent>[0] }).event));
      if (--remaining <= 0) stop();
    });
    stream.on('error', (err) => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      client.close();
      reject(client.describe(err));
    });
    stream.on('end', () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      client.close();
      reject(new Error('the collector ended the stream (it is shutting down)'));
    });
  });
}

export function eventsCommand(): Command {
  return withRecordOptions(withApiOptions(new Command('events')))
    .description('print kernel events live as the collector decodes them (Ctrl-C to stop)')
    .option('-t, --type <types>', `record types, comma-separated or repeated (default all: ${STREAMABLE_RECORDS.filter((r) => r.sensor !== 'bench').map((r) => r.name).join(', ')})`, collect)
    .option('--pid <pid>', 'only this process id (tgid)', positiveInt)
    .option('--comm <name>', 'only this exact command name (at most 15 bytes)')
    .option('--cgroup <path|id>', 'only this cgroup v2 and the cgroups below it (path under the cgroup2 mount, or an id); one that does not exist is an error')
    .addOption(new Option('-o, --output <format>', 'table: columns fitted to the terminal; json: one object a line').choices(['table', 'json']).default('table'))
    .option('-n, --count <n>', 'stop after this many events', positiveInt)
    .option('-d, --duration <time>', 'stop after this long: 30s, 5m, 1h, 250ms', durationMs)
    .addHelpText('after', `
A reader slower than the events (a slow terminal, a paused pipe) never slows the collector:
events are dropped for this stream only and a "lost N events" line says how many.

Tables fit the terminal: the key fields (an exec's arguments, a connection's client → server,
bytes and duration) stay; uid, ppid and the cgroup go first when the line is too long.

-o json writes one object a line with stable names: type, time (ISO 8601), wall_time_unix_ns,
timestamp_ns, cpu, pid, tgid, comm, cgroup_id, cgroup, then the record's fields by schema name
(ebpf/schema/events.yaml) and the names the collector adds (exit_signal_name, local_ip, remote_ip,
and on process_exec args, shell-quoted, ending in "…" when some were lost, and args_lost).
Counts and ids are JSON numbers; a 64-bit value past 2^53 is a decimal string, as
wall_time_unix_ns always is. A lost-events notice is {"type":"lost","count":N}.

Examples:
  $ sudo bpfwasm events --type process_exec
  $ sudo bpfwasm events --type process_exit --comm nginx
  $ sudo bpfwasm events --type tcp_open,tcp_close --cgroup system.slice/nginx.service
  $ sudo bpfwasm events --pid 1234 | head -20
  $ sudo bpfwasm events -o json --type process_exit --duration 1m | jq 'select(.exit_code != 0)'
  $ sudo bpfwasm events -o json --count 1 --type tcp_close
  $ sudo bpfwasm events --record nginx.bwrec --comm nginx --max-seconds 60`)
    .action(events);
}
