#!/usr/bin/env node
// Quotes BENCHMARKS.md's figures in the docs, so a cost written in two places cannot disagree:
// every `<!-- figure:NAME -->…<!-- /figure -->` in a Markdown file of the tree gets the figure
// NAME reads from BENCHMARKS.md's tables (FIGURES below says where). `npm run gen` (and
// `npm run bench`, after it rewrites BENCHMARKS.md) writes them; `--check`, in `npm run build`,
// fails when a quote differs, names a figure FIGURES lacks, or BENCHMARKS.md no longer has one.
// `--root DIR` works on another tree than the repository's (tests).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = 'BENCHMARKS.md';
const SENSORS = 'eBPF sensors: overhead per traced operation';
const THROUGHPUT = 'Pipeline: throughput with zero loss';
const FOOTPRINT = 'Pipeline: start-up and footprint';
const ROUTES = 'eBPF sensors: fallback routes next to the primary';

/** ns per unit of the durations BENCHMARKS.md writes. */
const NS = { ns: 1, µs: 1e3, us: 1e3, ms: 1e6, s: 1e9 };

/** A duration as a reader takes it in: two significant digits, in the largest unit below it. */
function duration(ns) {
  const abs = Math.abs(ns);
  const [unit, scale] = abs >= 1e9 ? ['s', 1e9] : abs >= 1e6 ? ['ms', 1e6] : abs >= 1e3 ? ['µs', 1e3] : ['ns', 1];
  return `${Number((ns / scale).toPrecision(2))} ${unit}`;
}

/** "631 ns (+481 ns, 4.20×)" → "+480 ns"; a cost BENCHMARKS.md marks † (no larger than the noise) says so. */
function added(cell) {
  const m = /\(([+\-−])([\d.]+) (ns|µs|us|ms|s)(†?),/.exec(cell);
  if (!m) throw new Error('no "(+N unit, R×)" added cost in it');
  const sign = m[1] === '+' ? '+' : '−';
  return `${sign}${duration(Number(m[2]) * NS[m[3]])}${m[4] ? ', within noise' : ''}`;
}

/** The cell's first quantity as written: "153.5 MiB (**goal …**)" → "153.5 MiB". */
function leading(cell) {
  const m = /[+\-−]?[\d.]+(?:M\/s| ?(?:ns|µs|ms|s|MiB|KiB|GiB|%))/.exec(cell);
  if (!m) throw new Error('no quantity in it');
  return m[0];
}

/** Part `i` of a cell holding "a; b" pairs (the routes table: issue; complete). */
const part = (i) => (cell) => {
  const p = cell.split(';')[i]?.trim();
  if (!p) throw new Error(`no part ${i + 1} of a "a; b" pair in it`);
  return p;
};

const sensor = (row, name) => ({
  [`sensors.${name}`]: { section: SENSORS, row, column: 'bpfwasm (added, ×)', pick: added },
  [`sensors.${name}.bpftrace`]: { section: SENSORS, row, column: 'bpftrace (added, ×)', pick: added },
});

/** Every figure the docs may quote: a table cell of BENCHMARKS.md (section, first cell's start, column) and what to take of it. */
export const FIGURES = {
  ...sensor('process:', 'process'),
  ...sensor('tcp:', 'tcp'),
  ...sensor('blockio:', 'blockio'),
  ...sensor('runqlat:', 'runqlat'),
  ...sensor('syscalls: latency histogram', 'syscalls'),
  ...sensor('syscalls: comm filter', 'syscalls-filtered'),
  'bench.c-only': { section: THROUGHPUT, row: 'bpfwasm bench sensor, C-only consumer', column: 'added ns per getppid', pick: leading },
  'bench.bpftrace': { section: THROUGHPUT, row: 'bpftrace, in-kernel count', column: 'added ns per getppid', pick: leading },
  'footprint.ready': { section: FOOTPRINT, row: 'time to ready', column: 'bpfwasm', pick: leading },
  'footprint.collector-rss': { section: FOOTPRINT, row: 'collector RSS, idle', column: 'bpfwasm', pick: leading },
  'footprint.helper-rss': { section: FOOTPRINT, row: 'helper RSS, idle', column: 'bpfwasm', pick: leading },
  'routes.blockio.primary.issue': { section: ROUTES, row: 'blockio:', column: 'per event, primary', pick: part(0) },
  'routes.blockio.primary.complete': { section: ROUTES, row: 'blockio:', column: 'per event, primary', pick: part(1) },
  'routes.blockio.fallback.issue': { section: ROUTES, row: 'blockio:', column: 'per event, fallback', pick: part(0) },
  'routes.blockio.fallback.complete': { section: ROUTES, row: 'blockio:', column: 'per event, fallback', pick: part(1) },
  'routes.blockio.added': { section: ROUTES, row: 'blockio:', column: 'added', pick: (cell) => cell },
  'routes.runqlat.primary.wakeup': { section: ROUTES, row: 'runqlat:', column: 'per event, primary', pick: part(0) },
  'routes.runqlat.primary.switch': { section: ROUTES, row: 'runqlat:', column: 'per event, primary', pick: part(1) },
  'routes.runqlat.fallback.wakeup': { section: ROUTES, row: 'runqlat:', column: 'per event, fallback', pick: part(0) },
  'routes.runqlat.fallback.switch': { section: ROUTES, row: 'runqlat:', column: 'per event, fallback', pick: part(1) },
  'routes.runqlat.added': { section: ROUTES, row: 'runqlat:', column: 'added', pick: (cell) => cell },
};

/** A Markdown table row's cells (`\|` is a pipe inside a cell). */
const cells = (line) => line.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));

/** A table's second line: `|---|:--:|`. */
const SEPARATOR = /^\|(\s*:?-+:?\s*\|)+\s*$/;

/** BENCHMARKS.md's tables by `## ` section: Map(section → [{ header: [...], rows: [[...]] }]). */
export function parseTables(text) {
  const sections = new Map();
  let tables = null;
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith('## ')) {
      tables = [];
      sections.set(line.slice(3).trim(), tables);
      i++;
    } else if (tables && line.startsWith('|') && SEPARATOR.test(lines[i + 1] ?? '')) {
      const table = { header: cells(line), rows: [] };
      for (i += 2; i < lines.length && lines[i].startsWith('|'); i++) table.rows.push(cells(lines[i]));
      tables.push(table);
    } else {
      i++;
    }
  }
  return sections;
}

/** The quoted text of figure `name`, or an Error saying what BENCHMARKS.md lacks. */
export function figure(name, sections) {
  const spec = FIGURES[name];
  if (!spec) return new Error(`no figure "${name}" in FIGURES (scripts/gen-figures.mjs): add it there, or fix the name`);
  const where = `section "${spec.section}", row "${spec.row}…", column "${spec.column}"`;
  const fail = (why) => new Error(`${SOURCE} has no figure "${name}" (${where}): ${why}; run \`npm run bench\`, or change the quote`);
  const tables = sections.get(spec.section);
  if (!tables) return fail('no such section');
  const table = tables.find((t) => t.header.includes(spec.column));
  if (!table) return fail('no table there has that column');
  const rows = table.rows.filter((r) => r[0]?.startsWith(spec.row));
  if (rows.length !== 1) return fail(rows.length ? `${rows.length} rows match` : 'no such row');
  const cell = rows[0][table.header.indexOf(spec.column)] ?? '';
  try {
    return spec.pick(cell);
  } catch (e) {
    return fail(`its cell "${cell}" has ${e.message}`);
  }
}

const MARKER = /(<!-- figure:([\w.-]+) -->)([\s\S]*?)(<!-- \/figure -->)/g;

/** `text` with every figure marker's quote replaced; errors collect what could not be quoted. */
export function quoteFigures(text, sections, errors, file) {
  return text.replace(MARKER, (whole, open, name, _quoted, close) => {
    const value = figure(name, sections);
    if (value instanceof Error) {
      errors.push(`${file}: ${value.message}`);
      return whole;
    }
    return `${open}${value}${close}`;
  });
}

/** Markdown files of the tree, BENCHMARKS.md and what is not the project's own left out. */
function markdownFiles(root, dir = root) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || ['node_modules', 'dist', 'build'].includes(e.name)) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...markdownFiles(root, path));
    else if (e.name.endsWith('.md') && relative(root, path) !== SOURCE) out.push(path);
  }
  return out;
}

function main() {
  const args = process.argv.slice(2);
  const root = args.includes('--root') ? args[args.indexOf('--root') + 1] : join(dirname(fileURLToPath(import.meta.url)), '..');
  const check = args.includes('--check');
  const sections = parseTables(readFileSync(join(root, SOURCE), 'utf8'));
  const errors = [];
  const drift = [];
  for (const path of markdownFiles(root)) {
    const text = readFileSync(path, 'utf8');
    if (!text.includes('<!-- figure:')) continue;
    const file = relative(root, path);
    const next = quoteFigures(text, sections, errors, file);
    if (next === text) continue;
    if (check) drift.push(file);
    else writeFileSync(path, next);
  }
  for (const e of errors) console.error(`gen-figures: ${e}`);
  if (drift.length) console.error(`gen-figures: ${drift.join(', ')} quote figures that differ from ${SOURCE}; run \`npm run gen\` and commit`);
  if (errors.length || drift.length) process.exit(1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
