// `bpfwasm status`: sensors, exporters and the helper of a running collector.
import { Command, Option } from 'commander';
import { renderStatus } from './render/status.js';
import { connect, withApiOptions } from './api-options.js';
import type { ApiTarget } from '../api/client.js';

async function status(opts: ApiTarget & { output: 'table' | 'json' }): Promise<void> {
  const client = connect(opts);
  try {
    const s = await client.status();
    process.stdout.write(opts.output === 'json' ? `${JSON.stringify(s, null, 2)}\n` : renderStatus(s, process.stdout.isTTY ? process.stdout.columns : undefined));
  } finally {
    client.close();
  }
}

export function statusCommand(): Command {
  return withApiOptions(new Command('status'))
    .description("show a running collector's sensors, exporters and helper")
    .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
    .addHelpText('after', `
Examples:
  $ sudo bpfwasm status
  $ sudo bpfwasm status --output json | jq '.sensors[] | select(.ring_drops > 0)'

In JSON, counts are numbers; a 64-bit count past 2^53 (never reached in practice) would be
a decimal string so that it is not rounded.
  $ bpfwasm status --api node7:9746 --ca ca.pem --token-file ~/.bpfwasm/token`)
    .action(status);
}
