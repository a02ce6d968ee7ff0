// `bpfwasm profile`: a CPU profile through the collector's API, with a progress bar fed by the
// collector's own progress messages. Every format is rendered by the collector.
import { Command, InvalidArgumentError } from 'commander';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PROFILE_FORMAT_ENUM, PROFILE_GROUP_BY_ENUM, type ApiTarget, type ProfileReply } from '../api/client.js';
import { GROUP_BY, type GroupBy } from '../profile/render/group.js';
import type { ProfileFormat } from '../profile/render/index.js';
import { connect, withApiOptions } from './api-options.js';

/** Output file extension → the format the collector renders. */
export const PROFILE_EXTENSIONS: [string, ProfileFormat][] = [
  ['.html', 'html'], ['.svg', 'svg'], ['.json', 'json'], ['.folded', 'folded'], ['.pb.gz', 'pprof'],
];

// cli-progress ships no type declarations; this is the part of its API used here.
interface ProgressBar {
  start(total: number, value: number, payload?: Record<string, string>): void;
  update(value: number, payload?: Record<string, string>): void;
  stop(): void;
}
const { SingleBar } = createRequire(import.meta.url)('cli-progress') as {
  SingleBar: new (opts: { format: string; hideCursor: boolean; clearOnComplete: boolean }) => ProgressBar;
};

interface ProfileOptions extends ApiTarget { pid?: number; cgroup?: string; seconds: number; hz?: number; output: string; format?: ProfileFormat; groupBy: GroupBy }

const FORMATS = PROFILE_EXTENSIONS.map(([, f]) => f);

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** --format when given, else the output file's extension; stdout (`-`) needs --format or gets folded stacks. */
export function formatOf(output: string, explicit?: ProfileFormat): ProfileFormat {
  if (explicit) return explicit;
  if (output === '-') return 'folded';
  const format = PROFILE_EXTENSIONS.find(([ext]) => output.endsWith(ext))?.[1];
  if (!format) throw new Error(`cannot tell the format from ${output}: use --format or ${PROFILE_EXTENSIONS.map(([e]) => e).join(', ')}`);
  return format;
}

function profileFormat(value: string): ProfileFormat {
  if (!(FORMATS as string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${FORMATS.join(', ')}`);
  return value as ProfileFormat;
}

function groupBy(value: string): GroupBy {
  if (!(GROUP_BY as string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${GROUP_BY.join(', ')}`);
  return value as GroupBy;
}

async function profile(opts: ProfileOptions): Promise<void> {
  const format = formatOf(opts.output, opts.format);
  const client = connect(opts);
  const stream = client.profile({
    pid: opts.pid ?? 0,
    cgroup: opts.cgroup ?? '',
    seconds: opts.seconds,
    hz: opts.hz ?? 0,
    format: PROFILE_FORMAT_ENUM[format],
    group_by: PROFILE_GROUP_BY_ENUM[opts.groupBy],
  });
  // The bar draws only on a TTY (cli-progress), so scripts get a clean stderr.
  const bar = new SingleBar({ format: '{phase} [{bar}] {value}/{total} s', hideCursor: true, clearOnComplete: true });
  bar.start(opts.seconds, 0, { phase: 'starting' });
  // First Ctrl-C: the collector stops sampling and still sends what it sampled (perf record's
  // way); a second one gives up on the result.
  let interrupted = false;
  let profileId: string | undefined;
  let finishing = false;
  const onSigint = () => {
    if (finishing || profileId === undefined) {
      interrupted = true;
      stream.cancel();
      return;
    }
    finishing = true;
    bar.stop(); // the message would be drawn over
    process.stderr.write('stopping: writing what was sampled (Ctrl-C again to discard it)\n');
    client.finishProfile(profileId).catch(() => { /* the profile ended meanwhile: its result comes anyway */ });
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await new Promise<Extract<ProfileReply, { item: 'result' }>['result']>((resolve, reject) => {
      let got: Extract<ProfileReply, { item: 'result' }>['result'] | undefined;
      stream.on('data', (reply: ProfileReply) => {
        if (reply.item === 'progress') {
          profileId ||= reply.progress.id || undefined;
          if (!finishing) bar.update(Math.floor(reply.progress.elapsed_seconds), { phase: reply.progress.phase });
        }
        else got = reply.result;
      });
      stream.on('error', (err) => reject(interrupted ? new Error('interrupted; sampling stopped') : client.describe(err)));
      stream.on('end', () => (got ? resolve(got) : reject(new Error('the collector ended the profile without a result'))));
    });
    bar.stop();
    if (opts.output === '-') await new Promise<void>((resolve, reject) => process.stdout.write(result.data, (err) => (err ? reject(err) : resolve())));
    else writeFileSync(opts.output, result.data);
    const where = opts.output === '-' ? 'stdout' : opts.output;
    const early = finishing ? ', stopped early' : '';
    process.stderr.write(`wrote ${where} (${format}, ${result.data.length} bytes, ${result.samples} samples${early}, profile ${result.id})\n`);
    for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
  } finally {
    bar.stop();
    process.off('SIGINT', onSigint);
    client.close();
  }
}

export function profileCommand(): Command {
  return withApiOptions(new Command('profile'))
    .description('sample CPU stacks through a running collector and save a flamegraph')
    .option('--pid <pid>', 'only this process', positiveInt)
    .option('--cgroup <path|id>', 'only this cgroup v2 (path under /sys/fs/cgroup, or its id)')
    .option('-s, --seconds <seconds>', 'how long to sample', positiveInt, 10)
    .option('--hz <hz>', 'samples per second per CPU (collector default 99)', positiveInt)
    .requiredOption('-o, --output <file>', `where to write, - for stdout; the format follows the extension (${PROFILE_EXTENSIONS.map(([e]) => e).join(', ')})`)
    .option('-f, --format <format>', `${FORMATS.join(', ')} (default: from the extension; folded for -o -)`, profileFormat)
    .option('--group-by <comm|pid>', 'frames under one root per program name (comm) or per process (pid)', groupBy, 'comm')
    .addHelpText('after', `
Examples:
  $ sudo bpfwasm profile --pid 1234 --seconds 30 -o flame.html    # interactive flamegraph
  $ sudo bpfwasm profile --seconds 10 --hz 49 -o cpu.svg          # every process, static SVG
  $ sudo bpfwasm profile --pid 1234 -o cpu.pb.gz && go tool pprof -top cpu.pb.gz
  $ sudo bpfwasm profile -s 30 -o - | flamegraph.pl > cpu.svg        # Ctrl-C stops early and keeps the samples
  $ bpfwasm profile --cgroup system.slice/nginx.service -o nginx.folded --api node7:9746 --ca ca.pem --token-file token`)
    .action(profile);
}
