// The generated C header, compiled by a real C compiler, must lay records out exactly as the
// schema (and so the TypeScript decoder and the SDK accessors) say.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM script without types
import { loadSchema, outputs } from '../../scripts/gen-schema.mjs';
import { HEADER_FIELDS, HEADER_SIZE, RECORDS } from '../../src/ingest/generated/events.js';

const root = resolve(import.meta.dirname, '../..');

interface Field { name: string; offset: number; size: number }

function probeProgram(): string {
  const lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <linux/types.h>', '#include "bpfwasm_events.h"', 'int main(void) {'];
  lines.push(`printf("event_header sizeof %zu\\n", sizeof(struct bpfwasm_event_header));`);
  for (const f of HEADER_FIELDS) {
    lines.push(`printf("event_header.${f.name} %zu %zu\\n", offsetof(struct bpfwasm_event_header, ${f.name}), sizeof(((struct bpfwasm_event_header *)0)->${f.name}));`);
  }
  for (const r of RECORDS) {
    lines.push(`printf("${r.name} sizeof %zu\\n", sizeof(struct bpfwasm_${r.name}));`);
    for (const f of r.fields) {
      lines.push(`printf("${r.name}.${f.name} %zu %zu\\n", offsetof(struct bpfwasm_${r.name}, ${f.name}), sizeof(((struct bpfwasm_${r.name} *)0)->${f.name}));`);
    }
  }
  lines.push('return 0; }');
  return lines.join('\n');
}

function expected(): string {
  const out = [`event_header sizeof ${HEADER_SIZE}`];
  for (const f of HEADER_FIELDS) out.push(`event_header.${f.name} ${f.offset} ${f.size}`);
  for (const r of RECORDS) {
    out.push(`${r.name} sizeof ${r.size}`);
    for (const f of r.fields as unknown as Field[]) out.push(`${r.name}.${f.name} ${f.offset} ${f.size}`);
  }
  return `${out.join('\n')}\n`;
}

describe('event schema', () => {
  it.each(['cc', 'clang'])('C layout compiled with %s matches the schema field by field', (compiler) => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-layout-'));
    writeFileSync(join(dir, 'probe.c'), probeProgram());
    execFileSync(compiler, ['-std=c11', '-Wall', '-Werror', '-I', join(root, 'ebpf/include'), '-o', join(dir, 'probe'), join(dir, 'probe.c')]);
    expect(execFileSync(join(dir, 'probe'), { encoding: 'utf8' })).toBe(expected());
  });

  it('committed generated files match the schema (run `npm run gen` after editing it)', () => {
    for (const [file, text] of Object.entries(outputs() as Record<string, string>)) {
      expect(readFileSync(join(root, file), 'utf8'), file).toBe(text);
    }
  });

  it.each([
    ['implicit padding', 'fields: [{ name: a, type: u32 }, { name: b, type: u64 }]', /not 8-aligned; add a _pad field/],
    ['a size that is not a multiple of 8', 'fields: [{ name: a, type: u32 }]', /not a multiple of 8/],
    ['an unknown type', 'fields: [{ name: a, type: float }]', /unknown type "float"/],
  ])('refuses a record with %s', (_name, fields, message) => {
    const yaml = `version: 1\nheader: { name: h, fields: [{ name: type, type: u64 }] }\nrecords:\n  - { name: r, id: 1, sensor: s, ${fields} }\n`;
    expect(() => loadSchema(yaml)).toThrow(message);
  });

  const source = '{ name: new, id: 2, sensor: s, fields: [{ name: a, type: u32 }, { name: b, type: u32 }] }';
  it.each([
    ['a field the source lacks', '{ name: c, type: u32 }, { name: _pad, type: u32 }', 'retired: true, derivedFrom: new', /new has no u32 c at offset 8/],
    ['a field of another type', '{ name: a, type: s32 }, { name: _pad, type: u32 }', 'retired: true, derivedFrom: new', /new has no s32 a at offset 8/],
    ['a source that does not exist', '{ name: a, type: u32 }, { name: _pad, type: u32 }', 'retired: true, derivedFrom: nope', /names no record "nope"/],
    ['no retired mark', '{ name: a, type: u32 }, { name: _pad, type: u32 }', 'derivedFrom: new', /only for retired records/],
  ])('refuses a derived record with %s', (_name, fields, marks, message) => {
    const yaml = `version: 1\nheader: { name: h, fields: [{ name: type, type: u64 }] }\nrecords:\n  - { name: old, id: 1, sensor: s, ${marks}, fields: [${fields}] }\n  - ${source}\n`;
    expect(() => loadSchema(yaml)).toThrow(message);
  });

  it('accepts a derived record whose named fields are a prefix of its source, pads free', () => {
    const yaml = `version: 1\nheader: { name: h, fields: [{ name: type, type: u64 }] }\nrecords:\n  - { name: old, id: 1, sensor: s, retired: true, derivedFrom: new, fields: [{ name: a, type: u32 }, { name: _pad, type: u32 }] }\n  - ${source}\n`;
    expect(loadSchema(yaml).records[0].derivedFrom).toBe('new');
  });
});
