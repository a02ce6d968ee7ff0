// The TCP listener's bearer token check.
import { Metadata } from '@grpc/grpc-js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenCheck } from '../../src/api/auth.js';

function md(...values: string[]): Metadata {
  const m = new Metadata();
  for (const v of values) m.add('authorization', v);
  return m;
}

describe('TokenCheck', () => {
  const check = new TokenCheck('s3cret-token');

  it('accepts exactly "Bearer <token>" (scheme case-insensitive)', () => {
    expect(check.allows(md('Bearer s3cret-token'))).toBe(true);
    expect(check.allows(md('bearer s3cret-token'))).toBe(true);
  });

  it('refuses a missing, wrong, prefixed, extended, doubled or non-bearer credential', () => {
    expect(check.allows(new Metadata())).toBe(false);
    expect(check.allows(md('Bearer s3cret-tokeN'))).toBe(false);
    expect(check.allows(md('Bearer s3cret'))).toBe(false);
    expect(check.allows(md('Bearer s3cret-token-and-more'))).toBe(false);
    expect(check.allows(md('Basic s3cret-token'))).toBe(false);
    expect(check.allows(md('s3cret-token'))).toBe(false);
    expect(check.allows(md('Bearer s3cret-token', 'Bearer s3cret-token'))).toBe(false);
  });

  it('reads the token from a file without its trailing newline, and refuses an empty or missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-token-'));
    writeFileSync(join(dir, 'token'), 'from-file\n');
    expect(TokenCheck.fromFile(join(dir, 'token')).allows(md('Bearer from-file'))).toBe(true);
    writeFileSync(join(dir, 'empty'), '\n');
    expect(() => TokenCheck.fromFile(join(dir, 'empty'))).toThrow(`api.tcp.tokenFile ${join(dir, 'empty')} is empty`);
    expect(() => TokenCheck.fromFile(join(dir, 'nope'))).toThrow(`cannot read api.tcp.tokenFile ${join(dir, 'nope')}: ENOENT`);
  });
});
