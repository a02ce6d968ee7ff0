// exporters/ABI.md's byte-offset tables are what the generated layouts say: an author writing
// against the raw ABI (no SDK) reads offsets there, so a schema change must update them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEADER_FIELDS, RECORDS, type FieldLayout } from '../../src/ingest/generated/events.js';

const ABI = readFileSync(join(import.meta.dirname, '../../exporters/ABI.md'), 'utf8');
const typeText = (f: FieldLayout) => (f.type === 'chars' ? `char[${f.size}]` : f.type === 'bytes' ? `u8[${f.size}]` : f.type);
const rows = (fields: readonly FieldLayout[]) => fields.map((f) => `| ${f.offset} | ${typeText(f)} | \`${f.name}\` |`).join('\n');

describe('ABI.md record tables', () => {
  it('lists the header fields at their offsets', () => {
    expect(ABI).toContain(`| offset | type | field |\n|---|---|---|\n${rows(HEADER_FIELDS)}\n`);
  });

  it.each(RECORDS.map((r) => [r.name, r] as const))('lists %s with its type id, size and every field offset', (_name, r) => {
    expect(ABI).toContain(`**${r.name}** (type ${r.id}, ${r.size} bytes, sensor ${r.sensor}): header, then\n\n| offset | type | field |\n|---|---|---|\n${rows(r.fields)}\n`);
  });
});
