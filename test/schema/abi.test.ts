// The ABI and protocol numbers are written once (ebpf/schema/abi.yaml): every language's copy is
// generated, compiled where it is C, and the spec's tables must say the same.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM script without types
import { abiOutputs, loadAbi } from '../../scripts/gen-abi.mjs';
import { Errno, Kind, LogLevel, Op, ResolveKind } from '../../src/exporters/abi.js';
import { FrameKind, StatKind } from '../../src/ingest/protocol.js';
import { freshTmpDir } from '../exporters/helpers.js';

const root = resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

describe('ABI and protocol constants', () => {
  it('committed generated files match ebpf/schema/abi.yaml (run `npm run gen` after editing it)', () => {
    for (const [file, text] of Object.entries(abiOutputs() as Record<string, string>)) expect(read(file), file).toBe(text);
  });

  it('the C SDK and the helper compile to the numbers the runtime uses', () => {
    const dir = freshTmpDir('abi-c');
    const probe = (names: string[]) => names.map((n) => `printf("%s %lld\\n", "${n}", (long long)(${n}));`).join('\n');
    const sdk = Object.entries(Errno).map(([n]) => `BPFWASM_${n}`)
      .concat(Object.keys(Kind).map((n) => `BPFWASM_${n}`), Object.keys(Op).map((n) => `BPFWASM_OP_${n}`),
        Object.keys(ResolveKind).map((n) => `BPFWASM_RESOLVE_${n}`), Object.keys(LogLevel).map((n) => `BPFWASM_LOG_${n}`));
    const helper = Object.keys(FrameKind).map((n) => `FRAME_${n}`).concat(Object.keys(StatKind).map((n) => `STAT_${n}`));
    writeFileSync(join(dir, 'probe.c'), ['#include <stdio.h>', '#include "bpfwasm_abi.h"', '#include "bpfwasm_protocol.h"',
      'int main(void) {', probe([...sdk, ...helper]), 'return 0; }'].join('\n'));
    execFileSync('cc', ['-std=c11', '-Wall', '-Werror', '-I', join(root, 'exporters/sdk/c'), '-I', join(root, 'ebpf/include'),
      '-o', join(dir, 'probe'), join(dir, 'probe.c')]);
    const expected = [
      ...Object.entries(Errno).map(([n, v]) => `BPFWASM_${n} ${v}`), ...Object.entries(Kind).map(([n, v]) => `BPFWASM_${n} ${v}`),
      ...Object.entries(Op).map(([n, v]) => `BPFWASM_OP_${n} ${v}`), ...Object.entries(ResolveKind).map(([n, v]) => `BPFWASM_RESOLVE_${n} ${v}`),
      ...Object.entries(LogLevel).map(([n, v]) => `BPFWASM_LOG_${n} ${v}`),
      ...Object.entries(FrameKind).map(([n, v]) => `FRAME_${n} ${v}`), ...Object.entries(StatKind).map(([n, v]) => `STAT_${n} ${v}`),
    ];
    expect(execFileSync(join(dir, 'probe'), { encoding: 'utf8' })).toBe(`${expected.join('\n')}\n`);
  });

  it("exporters/ABI.md's error table and kind lists say the generated numbers", () => {
    const abi = read('exporters/ABI.md');
    for (const [name, code] of Object.entries(Errno)) expect(abi).toContain(`| ${code} | \`${name}\` |`);
    expect(abi).toContain(`\`kind\`: ${Object.entries(Kind).map(([n, v]) => `${v} ${n.toLowerCase()}`).join(', ')}`);
    expect(abi).toContain(`\`level\` ${Object.entries(LogLevel).map(([n, v]) => `${v} ${n.toLowerCase()}`).join(', ')}`);
    expect(read('ebpf/PROTOCOL.md')).toContain(`| 0 | u32 | magic | \`0x${loadAbi().protocol.magic.toString(16)}\``);
  });

  it.each([
    ['a duplicate value', 'errno: [{ name: A, value: -1 }, { name: B, value: -1 }]', /errno.B: duplicate value -1/],
    ['a duplicate name', 'errno: [{ name: A, value: -1 }, { name: A, value: -2 }]', /errno: duplicate name A/],
    ['a value that is not an integer', 'errno: [{ name: A, value: x }]', /errno.A: value must be an integer/],
    ['a lowercase name', 'errno: [{ name: a, value: -1 }]', /errno: bad name "a"/],
  ])('refuses %s', (_what, errno, message) => {
    const good = read('ebpf/schema/abi.yaml');
    expect(() => loadAbi(good.replace(/ {2}errno:\n(?: {4}- .*\n)+/, `  ${errno}\n`))).toThrow(message);
  });
});
