// The growable byte buffer under every serializer. A whole exposition starts at the size of the
// previous one of its kind, so a big scrape neither doubles nor copies (each doubling would copy,
// and touch fresh pages for, the whole output again).

/** The last whole output's size, one per kind of output. */
export interface SizeHint {
  last: number;
}

export class ByteWriter {
  buf: Buffer;
  pos = 0;

  /** With a `hint`, sized from the last output of that kind; otherwise `size` bytes (small parts). */
  constructor(private readonly hint?: SizeHint, size?: number) {
    this.buf = Buffer.allocUnsafe(size ?? (hint ? hint.last + (hint.last >> 4) : 64));
  }

  finish(): Buffer {
    if (this.hint) this.hint.last = this.pos;
    return this.buf.subarray(0, this.pos);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Callers `ensure` room first. */
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }
}
