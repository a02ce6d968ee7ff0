// The Rust SDK's generated record structs, compiled by Debian's rustc, must lay records out
// exactly as the schema (and so the C header and the TypeScript decoder) say, field by field.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEADER_FIELDS, HEADER_SIZE, RECORDS } from '../../src/ingest/generated/events.js';
import { freshTmpDir } from '../exporters/helpers.js';
import { DEBIAN_RUSTC, useDebianRustc } from '../exporters/rust.js';

const root = resolve(import.meta.dirname, '../..');
const pascal = (s: string) => s.replace(/(^|_)([a-z0-9])/g, (_m, _u, c: string) => c.toUpperCase());
const rustName = (field: string) => (field === 'type' ? 'r#type' : field);

/** A host program that prints every struct's size and every field's offset and size. */
function probeProgram(): string {
  const lines = [`#![allow(dead_code)]`, `mod events { include!(${JSON.stringify(join(root, 'exporters/sdk/rust/events.rs'))}); }`, 'use events::*;',
    'macro_rules! field { ($t:ty, $label:expr, $f:tt) => {{',
    '    let v: $t = unsafe { core::mem::MaybeUninit::zeroed().assume_init() };', // plain integers: zero is valid
    '    let at = core::ptr::addr_of!(v.$f) as usize - core::ptr::addr_of!(v) as usize;',
    '    println!("{} {} {}", $label, at, core::mem::size_of_val(&v.$f));',
    '}}; }', 'fn main() {'];
  lines.push(`println!("event_header sizeof {}", core::mem::size_of::<EventHeader>());`);
  for (const f of HEADER_FIELDS) lines.push(`field!(EventHeader, "event_header.${f.name}", ${rustName(f.name)});`);
  for (const r of RECORDS) {
    lines.push(`println!("${r.name} sizeof {}", core::mem::size_of::<${pascal(r.name)}>());`);
    for (const f of r.fields) lines.push(`field!(${pascal(r.name)}, "${r.name}.${f.name}", ${rustName(f.name)});`);
  }
  lines.push('}');
  return lines.join('\n');
}

function expected(): string {
  const out = [`event_header sizeof ${HEADER_SIZE}`];
  for (const f of HEADER_FIELDS) out.push(`event_header.${f.name} ${f.offset} ${f.size}`);
  for (const r of RECORDS) {
    out.push(`${r.name} sizeof ${r.size}`);
    for (const f of r.fields) out.push(`${r.name}.${f.name} ${f.offset} ${f.size}`);
  }
  return `${out.join('\n')}\n`;
}

describe('event schema in Rust', () => {
  it('the #[repr(C)] structs compiled with rustc 1.63 match the schema field by field', () => {
    useDebianRustc();
    const dir = freshTmpDir('layout-rust');
    writeFileSync(join(dir, 'probe.rs'), probeProgram());
    execFileSync(DEBIAN_RUSTC, ['--edition', '2021', '-o', join(dir, 'probe'), join(dir, 'probe.rs')], { stdio: 'pipe' });
    expect(execFileSync(join(dir, 'probe'), { encoding: 'utf8' })).toBe(expected());
  });
});
