// Structured log events (a JSON object per log line) written into a buffer allocated once, so
// an exporter can log per event without allocating. See README.md, "Structured logs".

import { logBytes, strnlen } from "./index";

/** The ASCII code of a lowercase hex digit. */
// @ts-ignore: decorator
@inline function hexDigit(v: u32): u32 {
  return v < 10 ? 0x30 + v : 0x57 + v;
}

/**
 * One JSON log line at a time: `start()`, then keys, punctuation and values, then `log(level)`.
 * Create it at module level or in `bpfwasm_init` (the buffer is allocated then, once). Bytes
 * past the capacity are dropped, so size it for the longest line; the host keeps 4096 bytes.
 */
export class JsonLine {
  private readonly buf: StaticArray<u8>;
  private readonly base: usize;
  private readonly cap: u32;
  private at: u32 = 0;

  constructor(capacity: u32) {
    this.buf = new StaticArray<u8>(capacity);
    this.base = changetype<usize>(this.buf);
    this.cap = capacity;
  }

  /** Where the line is and how long it is so far. */
  get ptr(): usize { return this.base; }
  get length(): u32 { return this.at; }

  /** Begins a new line (drops what was written). */
  start(): void {
    this.at = 0;
  }

  /** One byte. */
  // @ts-ignore: decorator
  @inline byte(b: u32): void {
    if (this.at < this.cap) store<u8>(this.base + this.at++, <u8>b);
  }

  /** ASCII literal text as it is: keys with their quotes, punctuation, `null`. */
  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.byte(<u32>s.charCodeAt(i));
  }

  /** Decimal digits of `v`, left-padded with zeros to `width` (a fraction's digits). */
  u64(v: u64, width: u32 = 1): void {
    const start = this.at;
    let n: u32 = 0;
    do {
      this.byte(<u32>(v % 10) + 0x30);
      v /= 10;
      n++;
    } while (v != 0 || n < width);
    // Digits came out least significant first: reverse them in place.
    for (let i = start, j = this.at - 1; i < j; i++, j--) {
      const t = load<u8>(this.base + i);
      store<u8>(this.base + i, load<u8>(this.base + j));
      store<u8>(this.base + j, t);
    }
  }

  i64(v: i64): void {
    if (v < 0) {
      this.byte(0x2d);
      this.u64(<u64>(-v));
    } else {
      this.u64(<u64>v);
    }
  }

  /**
   * A quoted JSON string from a NUL-padded kernel string of at most `max` bytes (a comm: 16).
   * Quotes, backslashes and control bytes are escaped; bytes that are not UTF-8 become U+FFFD
   * in the host, they never break the JSON.
   */
  cstring(ptr: usize, max: u32): void {
    const n = strnlen(ptr, max);
    this.byte(0x22);
    for (let i: u32 = 0; i < n; i++) {
      const b = <u32>load<u8>(ptr + i);
      if (b == 0x22 || b == 0x5c) {
        this.byte(0x5c);
        this.byte(b);
      } else if (b < 0x20) {
        this.ascii("\\u00");
        this.byte(hexDigit(b >> 4));
        this.byte(hexDigit(b & 15));
      } else {
        this.byte(b);
      }
    }
    this.byte(0x22);
  }

  /** A quoted JSON string from `len` bytes of UTF-8 already escaped (see jsonEscape). */
  escaped(ptr: usize, len: u32): void {
    this.byte(0x22);
    const n = min(len, this.cap - this.at);
    memory.copy(this.base + this.at, ptr, n);
    this.at += n;
    this.byte(0x22);
  }

  /** Hands the line to the host as a log message (a JSON object is logged as structured fields). */
  log(level: i32): void {
    logBytes(level, this.base, this.at);
  }
}

/**
 * JSON string content for `s` (no quotes), at most `capBytes` UTF-8 bytes, cut between
 * characters and escapes so that it always stays valid JSON. Allocates: call it where a name
 * is made (init, a cache miss), and write the result with `JsonLine.escaped`.
 */
export function jsonEscape(s: string, capBytes: u32): string {
  let out = "";
  let bytes: u32 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let piece: string;
    if (c == 0x22) piece = "\\\"";
    else if (c == 0x5c) piece = "\\\\";
    else if (c < 0x20) piece = "\\u00" + String.fromCharCode(hexDigit(c >> 4)) + String.fromCharCode(hexDigit(c & 15));
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) piece = s.substring(i, ++i + 1); // a surrogate pair: i moves past both
    else piece = String.fromCharCode(c);
    const n = <u32>String.UTF8.byteLength(piece);
    if (bytes + n > capBytes) break;
    bytes += n;
    out += piece;
  }
  return out;
}
