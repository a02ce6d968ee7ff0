// The documentation's code is real: every fenced block of exporters/ABI.md and the SDK READMEs
// is tagged `<!-- test: <kind> <name> -->` and compiled and run here as a user would, with exact
// results. A new block without a tag, or a tag without a check below, fails the suite.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Exporter } from '../../src/exporters/host/runtime.js';
import { RecordType } from '../../src/ingest/generated/events.js';
import { ROOT, buildAssemblyScript, buildC, buildRust } from '../../scripts/build-exporters.mjs';
import { encodeBatch, freshTmpDir, loadExporter, run, seriesId, testHost, valueOf, type TestHost } from './helpers.js';
import { DEBIAN_RUSTC, useDebianRustc } from './rust.js';

const EXPORTERS = join(ROOT, 'exporters');
const DOCS = ['ABI.md', 'sdk/assemblyscript/README.md', 'sdk/c/README.md', 'sdk/rust/README.md'];

interface Block { doc: string; kind: string; name: string; lang: string; code: string }

/** Every fenced block of the documents, with the tag on the line before it (kind '' if none). */
function blocks(): Block[] {
  const out: Block[] = [];
  for (const doc of DOCS) {
    const text = readFileSync(join(EXPORTERS, doc), 'utf8');
    // Only top-level fences: an indented block inside a list item is prose, not an example.
    for (const m of text.matchAll(/(?:<!-- test: (\S+) (\S+) -->\n)?^```(\w*)\n([\s\S]*?)^```$/gm)) {
      out.push({ doc, kind: m[1] ?? '', name: m[2] ?? '', lang: m[3]!, code: m[4]! });
    }
  }
  return out;
}

/** One documented exporter: its name and what it must do once loaded. */
interface Check {
  module: string;
  host?: Parameters<typeof testHost>[0];
  run(exporter: Exporter, host: TestHost): Promise<void>;
}

const noFailures = (e: Exporter) => expect(e.errors + e.traps + e.rejectedOps + e.rejectedCalls).toBe(0);

const syscallHost = { names: { 1: { '35': 'nanosleep' } }, settings: { syscall_seconds: { unnamed: 'unnamed' } } };

/** Two syscall_latency batches: nanosleep in slots 10 (→ bucket 0) and 20 (→ 10), nr 999 in slot 31 (→ +Inf). */
async function checkSyscallSeconds(e: Exporter, host: TestHost, unnamed: string): Promise<void> {
  const t = RecordType.syscall_latency;
  await run(e, t, encodeBatch(t, [{ nr: 35, slot: 10, count: 3, sum_ns: 2400 }, { nr: 999, slot: 31, count: 1, sum_ns: 3_000_000_000 }]), 2);
  await run(e, t, encodeBatch(t, [{ nr: 35, slot: 20, count: 2, sum_ns: 1_500_000 }, { nr: 35, slot: 3, count: 4, sum_ns: 20 }]), 2);
  const sleep = host.store.histogram(seriesId(host.store, 'example_syscall_seconds', { syscall: 'nanosleep' })!);
  expect(sleep.cumulative.length).toBe(22); // 21 bounds 2^10..2^30 ns, then +Inf
  expect(sleep.cumulative[0]).toBe(7); // slots 3 and 10: at most 2^10 ns
  expect(sleep.cumulative[9]).toBe(7);
  expect(sleep.cumulative[10]).toBe(9); // slot 20
  expect(sleep.cumulative[21]).toBe(9);
  expect(sleep.count).toBe(9);
  expect(sleep.sum).toBeCloseTo((2400 + 1_500_000 + 20) / 1e9, 15);
  const other = host.store.histogram(seriesId(host.store, 'example_syscall_seconds', { syscall: unnamed })!);
  expect(other.cumulative[20]).toBe(0);
  expect(other.cumulative[21]).toBe(1); // slot 31 > 30: +Inf
  expect(other.sum).toBe(3);
  noFailures(e);
}

const CHECKS: Record<string, Check> = {
  execs: {
    module: 'execs',
    async run(e, host) {
      const t = RecordType.process_exec;
      await run(e, t, encodeBatch(t, [{ comm: 'sh' }, { comm: 'sh' }, { comm: 'awk' }]), 3);
      expect(valueOf(host.store, 'example_exec_total', { comm: 'sh' })).toBe(2);
      expect(valueOf(host.store, 'example_exec_total', { comm: 'awk' })).toBe(1);
      noFailures(e);
    },
  },
  exits: {
    module: 'exits',
    async run(e, host) {
      const t = RecordType.process_exit;
      await run(e, t, encodeBatch(t, [{ comm: 'cc1' }, { comm: 'ld' }, { comm: 'cc1' }]), 3);
      expect(valueOf(host.store, 'example_exit_total', { comm: 'cc1' })).toBe(2);
      expect(valueOf(host.store, 'example_exit_total', { comm: 'ld' })).toBe(1);
      noFailures(e);
    },
  },
  'rs-exits': {
    module: 'exits',
    run: async (e, host) => CHECKS.exits!.run(e, host), // the C exits, in Rust
  },
  exit_codes: {
    module: 'exit_codes',
    host: { settings: { exit_codes: { min: '2' } } },
    async run(e, host) {
      const t = RecordType.process_exit;
      await run(e, t, encodeBatch(t, [{ exit_code: 0 }, { exit_code: 1 }, { exit_code: 2 }, { exit_code: 3 }]), 4);
      expect(valueOf(host.store, 'example_failed_exit_total', {})).toBe(2);
      // A panic: logged with its message, the batch traps, updates it queued are not sent, the module goes on.
      await run(e, t, encodeBatch(t, [{ exit_code: 9 }, { tgid: 4242, exit_code: 255 }]), 2);
      expect(e.traps).toBe(1);
      expect(host.logs.at(-1)).toMatchObject({ level: 3, msg: expect.stringMatching(/^panicked at 'exit code 255 from pid 4242', .*exit_codes\.rs:\d+:\d+$/) });
      await run(e, t, encodeBatch(t, [{ exit_code: 7 }]), 1);
      expect(valueOf(host.store, 'example_failed_exit_total', {})).toBe(3);
      expect(e.errors + e.rejectedOps + e.rejectedCalls).toBe(0); // no failure but the one trap counted above
    },
  },
  'raw-execs': {
    module: 'raw_execs',
    async run(e, host) {
      const t = RecordType.process_exec;
      await run(e, t, encodeBatch(t, [{ comm: 'a' }, { comm: 'b' }]), 2);
      await run(e, t, encodeBatch(t, [{ comm: 'c' }]), 1);
      await run(e, RecordType.process_exit, encodeBatch(RecordType.process_exit, [{}]), 1);
      expect(valueOf(host.store, 'example_raw_exec_total', {})).toBe(3);
      expect(e.errors).toBe(1); // the exit batch: a type it did not ask for returns 1
    },
  },
  'syscall-seconds': {
    module: 'syscall_seconds',
    host: syscallHost,
    run: async (e, host) => checkSyscallSeconds(e, host, '999'), // AssemblyScript: the number when unnamed
  },
  syscall_seconds: {
    module: 'syscall_seconds',
    host: syscallHost,
    async run(e, host) {
      await checkSyscallSeconds(e, host, 'unnamed'); // C: the `unnamed` setting
      expect(host.logs.find((l) => l.fields)?.fields).toEqual({ event: 'started', lo_ns: 1024, hi_ns: 1073741824 });
    },
  },
  watch: {
    module: 'watch',
    host: { settings: { watch: { comm: 'backup "db"' } } },
    async run(e, host) {
      const t = RecordType.process_exit;
      await run(e, t, encodeBatch(t, [
        { tgid: 41, comm: 'backup "db"', exit_code: 0 }, { tgid: 42, comm: 'backup "db"', exit_code: 2 },
        { tgid: 43, comm: 'backup "db"', exit_signal: 9 }, { tgid: 44, comm: 'cron', exit_code: 1 },
      ]), 4);
      expect(valueOf(host.store, 'example_watched_failures_total', { comm: 'backup "db"' })).toBe(2);
      expect(host.logs.filter((l) => l.fields).map((l) => [l.level, l.fields])).toEqual([
        [1, { event: 'watching', comm: 'backup "db"' }],
        [2, { event: 'failed', pid: 42, comm: 'backup "db"', exit_code: 2, signal: 0 }],
        [2, { event: 'failed', pid: 43, comm: 'backup "db"', exit_code: 0, signal: 9 }],
      ]);
      noFailures(e);
    },
  },
};

/** Shell blocks: what to lay out before running it, and which module it must produce. */
const SHELL: Record<string, { source: Block['name']; file: string; module: string }> = {
  'as-build': { source: 'execs', file: 'exporters/execs/index.ts', module: 'execs' },
  'c-build': { source: 'exits', file: 'exits.c', module: 'exits' },
  'rust-build': { source: 'rs-exits', file: 'exits.rs', module: 'exits' },
};

async function loadAndCheck(wasm: Uint8Array, check: Check): Promise<void> {
  const host = testHost(check.host);
  await check.run(await loadExporter(check.module, wasm, host), host);
}

const all = blocks();
/** Built by their documented command line (below) rather than once more here. */
const builtByShell = new Set(Object.values(SHELL).map((x) => x.source));

describe('documentation examples', () => {
  it('every code block is tagged with a test that exists', () => {
    expect(all.length).toBe(12); // a new block needs a tag and a check, then a new count here
    for (const b of all) {
      const where = `${b.doc}: \`\`\`${b.lang} block ${JSON.stringify(b.code.slice(0, 40))}`;
      expect(b.kind, `${where} has no <!-- test: … --> tag`).not.toBe('');
      const known = b.kind === 'sh' ? b.name in SHELL : b.name in CHECKS;
      expect(known, `${where}: no check for ${b.kind} ${b.name}`).toBe(true);
    }
  });

  for (const b of all.filter((x) => x.kind === 'as' && !builtByShell.has(x.name))) {
    it(`${b.doc}: AssemblyScript ${b.name} compiles and runs`, async () => {
      // Laid out as the README says: exporters/<name>/index.ts beside exporters/sdk/.
      const base = freshTmpDir(`as-${b.name}`);
      cpSync(join(EXPORTERS, 'sdk'), join(base, 'exporters', 'sdk'), { recursive: true });
      mkdirSync(join(base, 'exporters', b.name));
      const entry = join(base, 'exporters', b.name, 'index.ts');
      writeFileSync(entry, b.code);
      const out = join(base, `${b.name}.wasm`);
      await buildAssemblyScript(entry, out, { baseDir: base, sdkDir: join(base, 'exporters', 'sdk', 'assemblyscript') });
      await loadAndCheck(readFileSync(out), CHECKS[b.name]!);
    });
  }

  for (const b of all.filter((x) => x.kind === 'c' && !builtByShell.has(x.name))) {
    it(`${b.doc}: C ${b.name} compiles and runs`, async () => {
      const dir = freshTmpDir(`c-${b.name}`);
      writeFileSync(join(dir, `${b.name}.c`), b.code);
      await buildC([join(dir, `${b.name}.c`)], join(dir, `${b.name}.wasm`));
      await loadAndCheck(readFileSync(join(dir, `${b.name}.wasm`)), CHECKS[b.name]!);
    });
  }

  for (const b of all.filter((x) => x.kind === 'rust' && !builtByShell.has(x.name))) {
    it(`${b.doc}: Rust ${b.name} compiles with rustc 1.63 and runs`, async () => {
      useDebianRustc();
      const dir = freshTmpDir(`rust-${b.name}`);
      writeFileSync(join(dir, `${b.name}.rs`), b.code);
      await buildRust(join(dir, `${b.name}.rs`), join(dir, `${b.name}.wasm`));
      await loadAndCheck(readFileSync(join(dir, `${b.name}.wasm`)), CHECKS[b.name]!);
    }, 60_000);
  }

  for (const b of all.filter((x) => x.kind === 'sh')) {
    it(`${b.doc}: the ${b.name} command line builds ${SHELL[b.name]?.source}, which runs`, async () => {
      const spec = SHELL[b.name]!;
      const source = all.find((x) => x.name === spec.source)!;
      // The repository's layout: the SDK under exporters/sdk and its npm dependencies for npx.
      const base = freshTmpDir(`sh-${b.name}`);
      cpSync(join(EXPORTERS, 'sdk'), join(base, 'exporters', 'sdk'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(base, 'node_modules'));
      mkdirSync(join(base, spec.file, '..'), { recursive: true });
      writeFileSync(join(base, spec.file), source.code);
      // `rustc` on PATH is Debian's (1.63) here, whatever else is installed.
      const env = { ...process.env, PATH: `${dirname(DEBIAN_RUSTC)}:${process.env.PATH}` };
      execFileSync('sh', ['-ec', b.code], { cwd: base, stdio: 'pipe', env });
      await loadAndCheck(readFileSync(join(base, `${spec.module}.wasm`)), CHECKS[spec.source]!);
    });
  }
});
