// `bpfwasm exporters test MODULE --replay FILE`: a module run over a recording offline
// (src/recording/replay.ts), its exposition printed or compared with a golden file.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.js';
import { replay, type ReplayResult } from '../recording/replay.js';

interface TestOptions {
  replay: string;
  settings?: Record<string, string>;
  expect?: string;
  update?: boolean;
  config?: string;
}

function setting(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq < 1) throw new InvalidArgumentError('must be KEY=VALUE');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * The lines only one side has, `-` for the expected, `+` for the actual, in file order. The
 * exposition has one sample per line and no line twice, so this is the whole difference.
 */
export function diffExposition(expected: string, actual: string): string[] {
  const lines = (text: string) => text.split('\n').filter((l) => l !== '');
  const want = lines(expected);
  const got = lines(actual);
  const wantSet = new Set(want);
  const gotSet = new Set(got);
  return [...want.filter((l) => !gotSet.has(l)).map((l) => `- ${l}`), ...got.filter((l) => !wantSet.has(l)).map((l) => `+ ${l}`)];
}

/** Problems the runtime counted, one line each: a module under test should have none. */
export function runtimeProblems(r: ReplayResult): string[] {
  const counts = { errors: r.errors, traps: r.traps, timeouts: r.timeouts, 'dropped events': r.dropped, 'rejected updates': r.rejectedOps };
  const out = Object.entries(counts).filter(([, n]) => n > 0).map(([what, n]) => `${n} ${what}`);
  return out.length ? [`the module had ${out.join(', ')}${r.lastError ? ` (last: ${r.lastError})` : ''}`] : [];
}

async function test(module: string, opts: TestOptions): Promise<void> {
  const wasm = readInput(module, 'module');
  const recording = readInput(opts.replay, 'recording');
  const config = opts.config ? loadConfig(opts.config) : undefined;
  const r = await replay(basename(module, '.wasm'), wasm, recording, { ...(config && { config }), ...(opts.settings && { settings: opts.settings }) });
  const say = (line: string) => process.stderr.write(`${line}\n`);
  say(`replayed ${r.events} events in ${r.batches} batches from ${opts.replay} (recorded on ${r.header.kernel} ${r.header.arch})`);
  if (!r.end) say('warning: the recording has no END frame: the recorder was killed and the file may be cut short');
  if (r.lostInRecording > 0) say(`warning: the recording lost ${r.lostInRecording} events (the recorder read too slowly)`);
  if (r.unanswered > 0) say(`note: ${r.unanswered} resolve calls had no answer in the recording (as for an id the collector could not name)`);
  for (const l of r.logs) say(`module log (level ${l.level}): ${l.msg}`);
  const problems = runtimeProblems(r);
  for (const p of problems) say(`error: ${p}`);
  if (opts.update) {
    if (!opts.expect) throw new Error('--update needs --expect GOLDEN');
    writeFileSync(opts.expect, r.exposition);
    say(`wrote ${opts.expect}`);
  } else if (opts.expect) {
    const diff = diffExposition(readInput(opts.expect, 'golden file').toString('utf8'), r.exposition);
    if (diff.length) {
      process.stdout.write(`${diff.join('\n')}\n`);
      say(`${opts.expect}: ${diff.length} lines differ`);
      process.exitCode = 1;
    } else {
      say(`${opts.expect}: the exposition matches`);
    }
  } else {
    process.stdout.write(r.exposition);
  }
  if (problems.length) process.exitCode = 1;
}

export function addTestCommand(cmd: Command): void {
  cmd.command('test')
    .description('run a module over a recording (bpfwasm events --record) with the real runtime, offline: print its exposition or compare it with a golden file')
    .argument('<module>', 'the .wasm file (its name is the exporter name)')
    .requiredOption('-r, --replay <file>', 'the recording')
    .option('-s, --settings <key=value>', 'a setting the module reads through `config` (repeatable)', setting)
    .option('-e, --expect <golden>', 'compare with this exposition; exit 1 on any difference')
    .option('--update', 'write the exposition to the --expect file instead of comparing')
    .option('-c, --config <file>', "the collector config whose exporter limits and settings apply (default: the defaults)")
    .addHelpText('after', `
Needs no kernel and no root. The same recording always gives the same exposition. Exits 1 on
a difference from the golden file, or when the module trapped, failed a batch, timed out or
had updates refused.

Examples:
  $ sudo bpfwasm events --record web.bwrec --comm nginx --max-seconds 60
  $ bpfwasm exporters test build/myexp.wasm --replay web.bwrec
  $ bpfwasm exporters test build/myexp.wasm --replay web.bwrec --expect test/web.prom --update
  $ bpfwasm exporters test build/myexp.wasm --replay web.bwrec --expect test/web.prom --settings mode=fast`)
    .action(test);
}
