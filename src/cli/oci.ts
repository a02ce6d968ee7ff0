// `bpfwasm exporters push|pull|inspect`: exporters as signed OCI artifacts (exporters/OCI.md).
// Each action throws an Error with a one-line message; cli.ts prints it and exits 1.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { OciClient } from '../exporters/oci/client.js';
import { formatReference, parseReference, type OciReference } from '../exporters/oci/reference.js';
import { pullExporter, pushExporter } from '../exporters/oci/transfer.js';
import { moduleVersion } from '../exporters/host/registry.js';
import { parsePrivateKey, signModule, SIGNATURE_SUFFIX } from '../exporters/host/signing.js';
import { buildExporter } from '../exporters/build.js';

interface RegistryOptions { username?: string; passwordFile?: string; caFile?: string; plainHttp?: boolean; timeout: number; maxBytes: number }

function withRegistryOptions(c: Command): Command {
  return c
    .option('--username <user>', 'registry user (Basic, or for the token service)')
    .option('--password-file <file>', 'file holding the password or token (default: $BPFWASM_REGISTRY_PASSWORD)')
    .option('--ca-file <pem>', 'CA certificates to trust for the registry')
    .option('--plain-http', 'http:// instead of https:// (a registry on loopback)')
    .addOption(new Option('--timeout <seconds>', 'deadline of each request').default(30).argParser(positiveInteger))
    .addOption(new Option('--max-bytes <n>', 'largest module accepted').default(16 << 20).argParser(positiveInteger));
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function reference(text: string): OciReference {
  try {
    return parseReference(text);
  } catch (e) {
    throw new Error(`${JSON.stringify(text)} is not an OCI reference: it ${(e as Error).message}`);
  }
}

function clientFor(ref: OciReference, o: RegistryOptions): OciClient {
  const password = o.passwordFile ? readFileSync(o.passwordFile, 'utf8').trimEnd() : process.env.BPFWASM_REGISTRY_PASSWORD;
  return new OciClient(ref.registry, {
    plainHttp: o.plainHttp, ca: o.caFile ? readFileSync(o.caFile, 'utf8') : undefined, username: o.username, password,
    timeoutMs: o.timeout * 1000, maxBlobBytes: o.maxBytes,
  });
}

async function push(source: string, refText: string, o: RegistryOptions & { key?: string; sig?: string; name?: string }): Promise<void> {
  const ref = reference(refText);
  const modulePath = statSync(source).isDirectory() ? await buildExporter(source) : source;
  const module = readFileSync(modulePath);
  const name = o.name ?? basename(modulePath, '.wasm');
  let signature: Buffer | undefined;
  if (o.key) {
    signature = signModule(module, parsePrivateKey(readFileSync(o.key, 'utf8')));
  } else {
    const sigPath = o.sig ?? modulePath + SIGNATURE_SUFFIX;
    try {
      signature = readFileSync(sigPath);
    } catch (e) {
      if (o.sig || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read signature ${sigPath}: ${(e as Error).message}`);
    }
  }
  const digest = await pushExporter(clientFor(ref, o), ref, { name, module, signature });
  process.stdout.write(`pushed ${name} ${moduleVersion(module)} (${signature ? 'signed' : 'UNSIGNED'}) → ${formatReference(ref)}@${digest}\n`);
}

async function pull(refText: string, o: RegistryOptions & { out: string }): Promise<void> {
  const ref = reference(refText);
  const p = await pullExporter(clientFor(ref, o), ref, o.maxBytes);
  const file = join(resolve(o.out), `${p.artifact.name}.wasm`);
  writeFileSync(file, p.module);
  if (p.signature) writeFileSync(file + SIGNATURE_SUFFIX, p.signature);
  process.stdout.write(`pulled ${formatReference(ref)}@${p.digest} → ${file}${p.signature ? ` (+${SIGNATURE_SUFFIX}, key ${p.artifact.signingKeyId})` : ' (unsigned)'}\n`);
}

async function inspect(refText: string, o: RegistryOptions & { output: 'text' | 'json' }): Promise<void> {
  const ref = reference(refText);
  const p = await pullExporter(clientFor(ref, o), ref, o.maxBytes);
  const summary = {
    reference: formatReference(ref), digest: p.digest, name: p.artifact.name, abiVersion: p.artifact.abiVersion,
    version: moduleVersion(p.module), module: p.artifact.module, signature: p.artifact.signature ?? null,
    signingKeyId: p.artifact.signingKeyId ?? null, annotations: p.artifact.annotations,
  };
  if (o.output === 'json') {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${summary.reference}
  digest     ${summary.digest}
  exporter   ${summary.name} (ABI ${summary.abiVersion}), version ${summary.version}
  module     ${p.artifact.module.digest} ${p.artifact.module.size} bytes (verified)
  signature  ${p.artifact.signature ? `${p.artifact.signature.digest} key ${summary.signingKeyId} (checked by the collector against exporters.trustedKeys)` : 'none'}
`);
}

export function addOciCommands(cmd: Command): void {
  withRegistryOptions(cmd.command('push'))
    .description('build (DIR) or take MODULE, sign it, and push it to an OCI registry as an exporter artifact')
    .argument('<dir|module>', 'an exporter project to build, or a built .wasm')
    .argument('<ref>', 'registry/repository:tag')
    .option('-k, --key <private>', 'sign with this ed25519 private key (default: push MODULE.wasm.sig if there is one)')
    .option('--sig <file>', 'the detached signature to push')
    .option('--name <name>', 'exporter name (default: the module file name)')
    .addHelpText('after', `
Examples:
  $ bpfwasm exporters push ./myexp registry.example.com/bpfwasm/myexp:canary --key ~/.bpfwasm/signing.key
  $ bpfwasm exporters push build/myexp.wasm registry.example.com/bpfwasm/myexp:1.2.0`)
    .action(push);
  withRegistryOptions(cmd.command('pull'))
    .description('pull an exporter artifact: writes NAME.wasm and NAME.wasm.sig, every blob verified against its digest')
    .argument('<ref>', 'registry/repository:tag or registry/repository@sha256:…')
    .option('-o, --out <dir>', 'where to write the files', '.')
    .action(pull);
  withRegistryOptions(cmd.command('inspect'))
    .description("show an exporter artifact's digest, name, ABI version, module and signing key")
    .argument('<ref>', 'registry/repository:tag or registry/repository@sha256:…')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(inspect);
}
