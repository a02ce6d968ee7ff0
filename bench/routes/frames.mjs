// Decodes a helper's frames captured inside a VM (bench/routes/*.sh) for the checkers:
// records with named fields, STATS, control messages, and each loaded program's runs and
// BPF time from the last STATS. Needs dist/ (npm run build).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..', '..');
const load = (path) => import(pathToFileURL(join(ROOT, 'dist/src', path)).href);
const { FrameDecoder, parseStats } = await load('ingest/frame-decoder.js');
const { RECORDS, HEADER_FIELDS } = await load('ingest/generated/events.js');
export const { StatKind: Stat } = await load('ingest/protocol.js');

const layouts = new Map(RECORDS.map((r) => [r.id, r]));

function field(buf, f) {
  switch (f.type) {
    case 'u8': return buf.readUInt8(f.offset);
    case 'u16': return buf.readUInt16LE(f.offset);
    case 'u32': return buf.readUInt32LE(f.offset);
    case 's32': return buf.readInt32LE(f.offset);
    case 'u64': case 's64': return Number(buf.readBigUInt64LE(f.offset));
    case 'chars': { const b = buf.subarray(f.offset, f.offset + f.size); const nul = b.indexOf(0); return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1'); }
    default: return buf.subarray(f.offset, f.offset + f.size).toString('hex');
  }
}

/** The frames of `file`; `runs` maps each program with run stats to { runs, ns, nsPerRun }. */
export function decodeFrames(file) {
  const records = [];
  const statsFrames = [];
  const control = [];
  const decoder = new FrameDecoder({
    events(type, payload, count) {
      const layout = layouts.get(type);
      for (let i = 0; i < count; i++) {
        const buf = Buffer.from(payload.subarray(i * layout.size, (i + 1) * layout.size));
        const r = {};
        for (const f of [...HEADER_FIELDS, ...layout.fields]) r[f.name] = field(buf, f);
        r.record = layout.name;
        records.push(r);
      }
    },
    stats: (payload, count) => statsFrames.push(parseStats(payload, count)),
    control: (kind, message) => control.push({ kind, message }),
  });
  decoder.push(readFileSync(file));
  decoder.end();
  const hello = control.find((c) => c.kind === 'hello')?.message;
  const programs = hello?.sensors[0]?.programs ?? [];
  const last = statsFrames.at(-1) ?? [];
  const runs = Object.fromEntries(last.filter((s) => s.kind === Stat.PROG_RUN_COUNT).map((s) => {
    const ns = last.find((t) => t.kind === Stat.PROG_RUN_TIME_NS && t.index === s.index)?.value ?? 0;
    return [programs[s.index], { runs: s.value, ns, nsPerRun: s.value ? Math.round(ns / s.value) : null }];
  }));
  return { records, statsFrames, control, hello, last, runs };
}

/** Collects `what: got …, want …` for every mismatch. */
export function expectations() {
  const failures = [];
  const expect = (what, actual, wanted) => {
    if (JSON.stringify(actual) !== JSON.stringify(wanted)) failures.push(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(wanted)}`);
  };
  return { failures, expect };
}
