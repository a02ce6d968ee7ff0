// `bpfwasm exporters …`: make signing keys, sign and verify modules, scaffold and build exporters.
// Each action throws an Error with a one-line message; cli.ts prints it and exits 1.
import { Command, InvalidArgumentError, Option } from 'commander';
import { chmodSync, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadConfig } from '../config.js';
import {
  REQUEST_SIGNATURE, SIGNATURE_SUFFIX, isInlineKey, keyId, parsePrivateKey, readTrustedKey, signModule, trustPolicy, verifyModule,
} from '../exporters/host/signing.js';
import { buildExporter } from '../exporters/build.js';
import { NAME_RE, scaffold, type Language } from './scaffold.js';
import type { ApiTarget } from '../api/client.js';
import type { ApiExporterStatus } from '../api/status.js';
import { connect, withApiOptions } from './api-options.js';
import { renderExporters } from './render/status.js';
import { addOciCommands } from './oci.js';
import { SHADOW_SUFFIX } from '../exporters/host/registry.js';
import { addTestCommand } from './exporters-test.js';

const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function readModule(path: string): Buffer {
  const bytes = read(path, 'module');
  if (!bytes.subarray(0, 4).equals(WASM_MAGIC)) throw new Error(`${path} is not a WebAssembly module (no \\0asm header)`);
  return bytes;
}

/** The exporter name the collector would give a module file. */
function moduleName(path: string): string {
  return basename(path, '.wasm');
}

/** Writes `data` to a new file with `mode`; with `force` an existing file is replaced, never reused with its old mode. */
function writeNew(path: string, data: string | Buffer, mode: number, force: boolean): void {
  if (force) {
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot replace ${path}: ${(e as Error).message}`);
    }
  }
  try {
    writeFileSync(path, data, { mode, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new Error(`${path} already exists (use --force to replace it, or --name)`);
    throw new Error(`cannot write ${path}: ${code ?? (e as Error).message}`);
  }
  chmodSync(path, mode); // the umask may have taken bits away from a public key's 0644
}

async function keygen(opts: { out: string; name: string; force?: boolean }): Promise<void> {
  const { generateKeyPairSync } = await import('node:crypto');
  if (!/^[A-Za-z0-9._-]+$/.test(opts.name)) throw new Error(`invalid key name ${JSON.stringify(opts.name)}: use A-Z a-z 0-9 . _ -`);
  try {
    mkdirSync(opts.out, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new Error(`cannot create ${opts.out}: ${(e as Error).message}`);
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const priv = join(opts.out, `${opts.name}.key`);
  const pub = join(opts.out, `${opts.name}.pub`);
  writeNew(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600, opts.force ?? false);
  writeNew(pub, publicKey.export({ type: 'spki', format: 'pem' }), 0o644, opts.force ?? false);
  process.stdout.write(`private key ${priv} (mode 0600: keep it where modules are built, not on collector hosts)
public key  ${pub} (key id ${keyId(publicKey)})
trust it in the collector's config:
  exporters:
    trustedKeys: [${resolve(pub)}]
`);
}

function sign(module: string, opts: { key: string; out?: string }): void {
  const bytes = readModule(module);
  const keyText = read(opts.key, 'private key').toString('utf8');
  let key;
  try {
    key = parsePrivateKey(keyText);
  } catch (e) {
    throw new Error(`${opts.key} is ${(e as Error).message}`);
  }
  const out = opts.out ?? module + SIGNATURE_SUFFIX;
  try {
    writeFileSync(out, signModule(bytes, key));
  } catch (e) {
    throw new Error(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  process.stdout.write(`signed ${module} → ${out}\n`);
}

function verify(module: string, opts: { key?: string[]; config?: string; sig?: string }): void {
  const config = opts.config ? loadConfig(opts.config) : undefined; // its key paths are already absolute
  const entries = [...(config?.exporters.trustedKeys ?? []), ...(opts.key ?? []).map((k) => (isInlineKey(k) ? k : resolve(k)))];
  if (entries.length === 0) throw new Error('no public key: give --key PUBLIC (repeatable) or --config FILE with exporters.trustedKeys');
  const keys = new Map(entries.map((k, i) => readTrustedKey(k, i)).map((k) => [k.id, k])); // a key given twice counts once
  const policy = trustPolicy([...keys.values()], true);
  const bytes = readModule(module);
  const sigPath = opts.sig ?? module + SIGNATURE_SUFFIX;
  let sig: Buffer | undefined;
  try {
    sig = readFileSync(sigPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read signature ${sigPath}: ${(e as Error).message}`);
  }
  const result = verifyModule(moduleName(module), bytes, sig, policy, sigPath);
  process.stdout.write(`${module}: ${result.note}\n`);
}

async function build(dir: string, opts: { out?: string }): Promise<void> {
  const out = await buildExporter(dir, opts.out);
  process.stdout.write(`built ${out}\n`);
}

function newExporter(name: string, opts: { lang: Language; dir: string }): void {
  const { dir, files } = scaffold(name, opts.lang, resolve(opts.dir));
  process.stdout.write(`created ${dir}: ${files.join(', ')}
next:
  cd ${dir} && npm install && npm test
`);
}

/** Runs one API call and closes the connection, whatever happens. */
async function withClient<T>(opts: ApiTarget, fn: (client: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
  const client = connect(opts);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function describeVersion(e: ApiExporterStatus): string {
  const c = e.current;
  const shadow = e.shadow ? `, shadow ${e.shadow.version} (${e.shadow.state})` : '';
  return `${e.name}: ${c ? `${c.version} ${c.state}` : 'not running'}${shadow}`;
}

async function list(opts: ApiTarget & { output: 'table' | 'json' }): Promise<void> {
  const exporters = await withClient(opts, (c) => c.listExporters());
  if (opts.output === 'json') process.stdout.write(`${JSON.stringify(exporters, null, 2)}\n`);
  else process.stdout.write(`${renderExporters(exporters, process.stdout.isTTY ? process.stdout.columns : undefined).join('\n')}\n`);
}

async function load(name: string, file: string, opts: ApiTarget & { sig?: string; shadow?: boolean }): Promise<void> {
  const wasm = readModule(file);
  // Like the collector's directories: FILE.sig beside the module is its signature unless --sig says otherwise.
  const sigPath = opts.sig ?? (existsSync(file + SIGNATURE_SUFFIX) ? file + SIGNATURE_SUFFIX : undefined);
  const signature = sigPath !== undefined ? read(sigPath, 'signature') : undefined;
  const e = await withClient(opts, (c) => c.loadExporter(name, wasm, { ...(signature && { signature }), shadow: opts.shadow ?? false }))
    .catch((err: Error) => {
      // The collector only knows whether a signature came with the request: name the file this command used or looked for.
      const where = sigPath ?? `${file}${SIGNATURE_SUFFIX} beside the module, and no --sig`;
      throw err.message.includes(REQUEST_SIGNATURE) ? new Error(err.message.replace(REQUEST_SIGNATURE, where), { cause: err }) : err;
    });
  process.stdout.write(`${opts.shadow ? 'started shadow' : 'loaded'} ${describeVersion(e)}\n${opts.shadow ? '' : restartNote(e)}`);
}

async function unload(name: string, opts: ApiTarget): Promise<void> {
  await withClient(opts, (c) => c.unloadExporter(name));
  process.stdout.write(`unloaded ${name}\n`);
}

async function promote(name: string, opts: ApiTarget): Promise<void> {
  const e = await withClient(opts, (c) => c.promoteExporter(name));
  process.stdout.write(`promoted ${describeVersion(e)}\n${restartNote(e)}`);
}

/**
 * What a restart would load instead of the version just made current: the collector keeps
 * no state on disk, so it loads what the directories hold (API loads are not kept at all).
 */
export function restartNote(e: Pick<ApiExporterStatus, 'name' | 'current'>): string {
  const source = e.current?.source ?? '';
  if (source.endsWith(SHADOW_SUFFIX)) {
    const file = `${source.slice(0, -SHADOW_SUFFIX.length)}.wasm`;
    return `note: a restart loads ${file} again; to keep this version, rename the shadow over it: mv ${source} ${file}\n`;
  }
  if (source === 'api') return `note: loaded through the API, so a restart does not load it again; put the file in a directory of exporters.dirs to keep it\n`;
  return '';
}

async function abort(name: string, opts: ApiTarget): Promise<void> {
  const e = await withClient(opts, (c) => c.abortExporter(name));
  process.stdout.write(`aborted the shadow of ${describeVersion(e)}\n`);
}

function exporterName(value: string): string {
  if (!NAME_RE.test(value)) throw new InvalidArgumentError('use a lowercase letter, then up to 47 of a-z 0-9 _ -');
  return value;
}

/** The `exporters` command and its subcommands, for cli.ts to add to the program. */
export function exportersCommand(): Command {
  const cmd = new Command('exporters')
    .description('write, build, sign and verify WebAssembly exporters; list, load and roll them out in a running collector')
    .addHelpText('after', `
Examples:
  $ bpfwasm exporters new myexp && cd myexp && npm install && npm test
  $ bpfwasm exporters test build/myexp.wasm --replay events.bwrec --expect myexp.prom
  $ sudo bpfwasm exporters load myexp build/myexp.wasm --sig build/myexp.wasm.sig --shadow
  $ sudo bpfwasm exporters promote myexp
  $ bpfwasm exporters keygen --out ~/.bpfwasm
  $ bpfwasm exporters sign build/myexp.wasm --key ~/.bpfwasm/signing.key
  $ bpfwasm exporters verify build/myexp.wasm --key ~/.bpfwasm/signing.pub`);

  cmd.command('keygen')
    .description('make an ed25519 key pair for signing exporters: <name>.key (PKCS#8 PEM, mode 0600) and <name>.pub (SPKI PEM)')
    .requiredOption('-o, --out <dir>', 'directory for the two files (created with mode 0700 if missing)')
    .option('--name <name>', 'file name of the pair, without extension', 'signing')
    .option('-f, --force', 'replace existing key files')
    .addHelpText('after', `
The files are the standard PEM forms OpenSSL reads and writes: an existing key made with
\`openssl genpkey -algorithm ed25519 -out signing.key\` (public half: \`openssl pkey -in signing.key -pubout\`)
works the same. List the .pub file (or its one-line base64 body) in exporters.trustedKeys.

Examples:
  $ bpfwasm exporters keygen --out ~/.bpfwasm
  $ bpfwasm exporters keygen --out /secure/keys --name release-2025`)
    .action(keygen);

  cmd.command('sign')
    .description('sign a module with a private key: writes MODULE.wasm.sig beside it')
    .argument('<module>', 'the .wasm file')
    .requiredOption('-k, --key <private>', 'ed25519 private key (PKCS#8 PEM, from keygen or openssl genpkey)')
    .option('-o, --out <file>', 'where to write the signature (default MODULE.wasm.sig)')
    .addHelpText('after', `
Examples:
  $ bpfwasm exporters sign build/myexp.wasm --key ~/.bpfwasm/signing.key
  $ bpfwasm exporters sign myexp.wasm --key release.key --out /srv/exporters/myexp.wasm.sig`)
    .action(sign);

  cmd.command('verify')
    .description('check that a module matches its signature by one of the given public keys, as the collector would')
    .argument('<module>', 'the .wasm file (its signature is MODULE.wasm.sig)')
    .option('-k, --key <public...>', 'trusted ed25519 public keys: SPKI PEM files or inline base64 keys')
    .option('-c, --config <file>', "also trust the collector config's exporters.trustedKeys")
    .option('--sig <file>', 'the signature (default MODULE.wasm.sig)')
    .addHelpText('after', `
Exits 0 when the signature verifies; otherwise says whether the module is unsigned,
tampered, or signed by an unknown key, and exits 1.

Examples:
  $ bpfwasm exporters verify build/myexp.wasm --key ~/.bpfwasm/signing.pub
  $ bpfwasm exporters verify /srv/exporters/myexp.wasm --config /etc/bpfwasm/config.yaml
  $ bpfwasm exporters verify myexp.wasm --key old.pub new.pub`)
    .action(verify);

  cmd.command('new')
    .description('scaffold a working exporter project with a test (vitest)')
    .argument('<name>', 'exporter name: the module becomes <name>.wasm', exporterName)
    .addOption(new Option('-l, --lang <lang>', 'source language: as (AssemblyScript), c or rust').choices(['as', 'c', 'rust']).default('as'))
    .option('-d, --dir <dir>', 'parent directory; the project is <dir>/<name>', '.')
    .addHelpText('after', `
Examples:
  $ bpfwasm exporters new myexp && cd myexp && npm install && npm test
  $ bpfwasm exporters new slow-io --lang c --dir ~/src
  $ bpfwasm exporters new exits-rs --lang rust`)
    .action(newExporter);

  cmd.command('build')
    .description('compile an exporter directory (index.ts, *.c or a Rust crate\'s src/lib.rs) to a .wasm module, or check a prebuilt .wasm by loading it (its init runs, without settings) and copy it')
    .argument('<dir>', 'the exporter project, or a .wasm file')
    .option('-o, --out <file>', 'output (default <dir>/build/<dir name>.wasm; for a .wasm, build/<its name> beside it)')
    .addHelpText('after', `
Examples:
  $ bpfwasm exporters build .
  $ bpfwasm exporters build ~/src/slow-io --out /srv/exporters/slow-io.wasm
  $ RUSTC=/usr/bin/rustc bpfwasm exporters build ~/src/exits-rs
  $ bpfwasm exporters build target/wasm32-unknown-unknown/release/exits.wasm --out /srv/exporters/exits.wasm`)
    .action(build);

  addTestCommand(cmd);

  withApiOptions(cmd.command('list'))
    .description('list the exporters a running collector runs, with their versions and counters')
    .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
    .addHelpText('after', `
Examples:
  $ sudo bpfwasm exporters list
  $ sudo bpfwasm exporters list --output json | jq '.[] | select(.shadow)'`)
    .action(list);

  withApiOptions(cmd.command('load'))
    .description('load a module into a running collector, or hot-swap it for the running version of that name')
    .argument('<name>', 'exporter name')
    .argument('<file>', 'the .wasm module')
    .option('--sig <file>', 'its detached signature (default: FILE.sig beside it, if there is one)')
    .option('--shadow', 'run it as a candidate beside the current version; then promote or abort')
    .addHelpText('after', `
Examples:
  $ sudo bpfwasm exporters load myexp build/myexp.wasm
  $ sudo bpfwasm exporters load process process-v2.wasm --sig process-v2.wasm.sig --shadow`)
    .action(load);

  withApiOptions(cmd.command('unload'))
    .description('stop an exporter and drop its series')
    .argument('<name>', 'exporter name')
    .addHelpText('after', `
Examples:
  $ sudo bpfwasm exporters unload myexp`)
    .action(unload);

  withApiOptions(cmd.command('promote'))
    .description("make an exporter's shadow candidate its current version (series continue)")
    .argument('<name>', 'exporter name')
    .addHelpText('after', `
Examples:
  $ sudo bpfwasm exporters promote process`)
    .action(promote);

  withApiOptions(cmd.command('abort'))
    .description("stop an exporter's shadow candidate and drop its series; the current version is untouched")
    .argument('<name>', 'exporter name')
    .addHelpText('after', `
Examples:
  $ sudo bpfwasm exporters abort process`)
    .action(abort);

  addOciCommands(cmd);
  return cmd;
}
