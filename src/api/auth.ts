// Bearer-token check for the TCP listener (and HTTP profiles under http.profile: token); the
// unix socket relies on its file mode instead.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Metadata } from '@grpc/grpc-js';

export class TokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    if (token === '') throw new Error('the API token is empty');
    // Comparing digests gives equal lengths, so the compare time says nothing about the token.
    this.expected = digest(token);
  }

  static fromFile(path: string, key = 'api.tcp.tokenFile'): TokenCheck {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${key} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const token = text.trim();
    if (token === '') throw new Error(`${key} ${path} is empty`);
    return new TokenCheck(token);
  }

  /** True when the metadata carries `authorization: Bearer <the token>`. */
  allows(metadata: Metadata): boolean {
    const values = metadata.get('authorization');
    if (values.length !== 1 || typeof values[0] !== 'string') return false;
    return this.allowsHeader(values[0]);
  }

  /** True when an Authorization header value is `Bearer <the token>`. */
  allowsHeader(value: string | undefined): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
    if (!m) return false;
    return timingSafeEqual(digest(m[1]!), this.expected);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
