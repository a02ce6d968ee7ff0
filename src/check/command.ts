// The `bpfwasm check` subcommand: registered on the CLI's program by registerCheck.
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.js';
import { renderTable, runCheck } from './index.js';

/** Exit code when the host lacks something required (1 stays "the command itself failed"). */
export const EXIT_MISSING = 2;

function outputFormat(value: string): 'table' | 'json' {
  if (value !== 'table' && value !== 'json') throw new InvalidArgumentError('must be table or json');
  return value;
}

export async function check(opts: { config?: string; output: 'table' | 'json'; sensors: boolean }): Promise<void> {
  const config = loadConfig(opts.config);
  const report = await runCheck(config, { skipSensors: !opts.sensors });
  process.stdout.write(opts.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderTable(report));
  if (!report.ok) process.exitCode = EXIT_MISSING;
}

export function registerCheck(program: Command): void {
  program.command('check')
    .description('probe this host for what bpfwasm needs (BTF, capabilities, kernel features, cgroups, each sensor) with a remedy for anything missing')
    .option('-c, --config <file>', 'YAML configuration file: which sensors are enabled, with their options')
    .option('-o, --output <format>', 'table or json', outputFormat, 'table')
    .option('--no-sensors', 'do not load each sensor (kernel probes only)')
    .addHelpText('after', `
Every probe does the real thing once: the helper creates a ring buffer, loads and attaches a
tp_btf program, opens a perf event, enables bpf_stats, tries a kprobe, and loads each sensor.
Exit status: 0 when everything required is there, ${EXIT_MISSING} when something required is missing,
1 when the check itself could not run (e.g. a bad config file).

Examples:
  $ sudo bpfwasm check
  $ bpfwasm check --config /etc/bpfwasm/config.yaml --output json | jq .capabilities.required
  $ bpfwasm check --no-sensors            # kernel and capability probes only`)
    .action(check);
}
