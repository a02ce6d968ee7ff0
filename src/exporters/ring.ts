// The single-producer, single-consumer ring in shared memory between the main thread and an
// exporter thread, used both ways: batches to the thread (one copy per batch and no message, the
// thread woken with Atomics.notify only when it sleeps, every batch that piled up run in one
// wake-up), and the thread's results back (results.ts), read by the main thread when it is awake anyway.
// A producer that publishes several batches at once (one read of the helper's socket) holds the
// notify and wakes the consumer once after them (hold, release).
// Layout: a 64-byte header of Int32 words, then the data area; each entry is a 16-byte header
// {slot, record type, count, payload bytes} and its payload, 8-byte aligned. An entry never
// wraps: one that does not fit before the end leaves a WRAP mark and starts at offset 0.

/** Int32 word: data offset the producer writes next (the consumer waits on it). */
const WRITE = 0;
/** Int32 word: data offset the consumer reads next. */
const READ = 1;
/** Int32 word: 1 while the consumer waits for WRITE to move. */
const SLEEPING = 2;
const HEADER_BYTES = 64;
const ENTRY_HEADER = 16;
const WRAP = 0xffffffff;

/** Bytes an entry of a `payload`-byte batch takes. */
const entryBytes = (payload: number) => ENTRY_HEADER + ((payload + 7) & ~7);

export function ringBuffer(dataBytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + (dataBytes & ~7));
}

/** The largest batch a ring of this buffer always takes (an entry of half of it: it may have to wait for a wrap; payloads round up to 8 bytes). */
export function ringMaxPayload(ring: SharedArrayBuffer): number {
  return (((ring.byteLength - HEADER_BYTES) >> 1) & ~7) - ENTRY_HEADER;
}

export class RingWriter {
  /** The data area: a claimed entry's payload is filled in here before `publish`. */
  readonly data: Uint8Array;
  private readonly ctl: Int32Array;
  private readonly u32: Uint32Array;
  private readonly cap: number;
  private write = 0;
  /** Offset of the entry `claim` made room for. */
  private claimed = 0;
  /** Between hold() and release(): entries are published without waking the consumer. */
  private holding = false;
  /** An entry was published while holding. */
  private held = false;

  constructor(ring: SharedArrayBuffer) {
    this.ctl = new Int32Array(ring, 0, HEADER_BYTES / 4);
    this.cap = ring.byteLength - HEADER_BYTES;
    this.data = new Uint8Array(ring, HEADER_BYTES, this.cap);
    this.u32 = new Uint32Array(ring, HEADER_BYTES, this.cap / 4);
  }

  /** Copies one batch in and publishes it; false if the consumer has not yet freed room for it. */
  put(slot: number, recordType: number, count: number, payload: Uint8Array): boolean {
    const at = this.claim(payload.byteLength);
    if (at < 0) return false;
    this.data.set(payload, at);
    this.publish(slot, recordType, count, payload.byteLength);
    return true;
  }

  /**
   * Makes room for an entry of up to `payloadBytes`: its payload goes at the returned offset of
   * `data` (8-byte aligned), seen by the consumer once published; -1 if the consumer has not yet freed room.
   */
  claim(payloadBytes: number): number {
    const need = entryBytes(payloadBytes);
    const read = Atomics.load(this.ctl, READ);
    let at = this.write;
    // The write offset never catches up with the read offset from behind: equal means empty.
    if (at >= read) {
      if (this.cap - at < need || (at + need === this.cap && read === 0)) {
        if (need >= read) return -1;
        if (this.cap - at >= 4) this.u32[at >> 2] = WRAP;
        at = 0;
      }
    } else if (read - at <= need) return -1;
    this.claimed = at;
    return at + ENTRY_HEADER;
  }

  /** Publishes the entry last claimed, its payload `payloadBytes` long (at most what was claimed). */
  publish(slot: number, recordType: number, count: number, payloadBytes: number): void {
    const at = this.claimed;
    const word = at >> 2;
    this.u32[word] = slot;
    this.u32[word + 1] = recordType;
    this.u32[word + 2] = count;
    this.u32[word + 3] = payloadBytes;
    const next = at + entryBytes(payloadBytes);
    this.write = next === this.cap ? 0 : next;
    Atomics.store(this.ctl, WRITE, this.write);
    if (this.holding) this.held = true;
    else if (Atomics.load(this.ctl, SLEEPING) !== 0) Atomics.notify(this.ctl, WRITE);
  }

  /** Publishes without waking a sleeping consumer until release(): several batches, one wake-up. */
  hold(): void {
    this.holding = true;
  }

  /** Wakes the consumer once if it sleeps and entries were published since hold(). */
  release(): void {
    this.holding = false;
    if (!this.held) return;
    this.held = false;
    // After the WRITE stores: a consumer that went to sleep before them sets SLEEPING first.
    if (Atomics.load(this.ctl, SLEEPING) !== 0) Atomics.notify(this.ctl, WRITE);
  }

  /** Share of the data area published and not yet freed by the consumer (0..1). */
  fill(): number {
    const read = Atomics.load(this.ctl, READ);
    return (this.write >= read ? this.write - read : this.cap - read + this.write) / this.cap;
  }
}

/** Atomics.waitAsync (Node 16+; the es2024 lib typing is not in this project's target). */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync.bind(Atomics);

/** What the consumer does with each entry; the payload view is valid only during the call. */
export type RingEntry = (slot: number, recordType: number, count: number, payload: Uint8Array) => void;

export class RingReader {
  private readonly ctl: Int32Array;
  private readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly cap: number;
  private read = 0;

  constructor(ring: SharedArrayBuffer) {
    this.ctl = new Int32Array(ring, 0, HEADER_BYTES / 4);
    this.cap = ring.byteLength - HEADER_BYTES;
    this.u8 = new Uint8Array(ring, HEADER_BYTES, this.cap);
    this.u32 = new Uint32Array(ring, HEADER_BYTES, this.cap / 4);
  }

  /** Runs every published entry in order, freeing each one's room once it ran; the number run. */
  drain(each: RingEntry): number {
    let n = 0;
    for (let write = Atomics.load(this.ctl, WRITE); this.read !== write; write = Atomics.load(this.ctl, WRITE)) {
      let at = this.read;
      if (this.cap - at < ENTRY_HEADER || this.u32[at >> 2] === WRAP) at = 0;
      const word = at >> 2;
      const bytes = this.u32[word + 3]!;
      each(this.u32[word]!, this.u32[word + 1]!, this.u32[word + 2]!, this.u8.subarray(at + ENTRY_HEADER, at + ENTRY_HEADER + bytes));
      const next = at + entryBytes(bytes);
      this.read = next === this.cap ? 0 : next;
      Atomics.store(this.ctl, READ, this.read);
      n++;
    }
    return n;
  }

  /** Resolves once an entry is published (at once if one is). */
  wait(): Promise<unknown> {
    Atomics.store(this.ctl, SLEEPING, 1);
    const r = waitAsync(this.ctl, WRITE, this.read);
    if (!r.async) {
      Atomics.store(this.ctl, SLEEPING, 0);
      return Promise.resolve();
    }
    return r.value.then(() => Atomics.store(this.ctl, SLEEPING, 0));
  }
}
