// The options every API command shares: where the collector is and how to authenticate.
import type { Command } from 'commander';
import { ApiClient, DEFAULT_API, TOKEN_ENV, type ApiTarget } from '../api/client.js';

export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--api <address>', `the collector's API: unix:/path, or host:port over TLS (default ${DEFAULT_API})`)
    .option('--ca <file>', 'PEM CA certificate that signed the collector (with --api host:port)')
    .option('--token-file <file>', `file holding the API bearer token (with --api host:port; else $${TOKEN_ENV})`);
}

export function connect(opts: ApiTarget): ApiClient {
  return new ApiClient({
    ...(opts.api !== undefined && { api: opts.api }),
    ...(opts.ca !== undefined && { ca: opts.ca }),
    ...(opts.tokenFile !== undefined && { tokenFile: opts.tokenFile }),
  });
}

export function outputOption(value: string): 'table' | 'json' {
  if (value !== 'table' && value !== 'json') throw new Error(`--output must be table or json, got ${JSON.stringify(value)}`);
  return value;
}
