// The helper's stream is parsed by the collector's event loop: whatever bytes arrive, in whatever
// chunks, the decoder never throws, delivers only well-formed batches, and accounts for every
// byte (in a delivered frame, or counted as skipped).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/ingest/frame-decoder.js';
import { encodeFrame } from '../../src/ingest/frame-encoder.js';
import { RECORD_SIZE, RecordType } from '../../src/ingest/generated/events.js';
import { FRAME_HEADER_SIZE, FrameKind, isWellFormedControl, PROFILE_SAMPLE_SIZE, STAT_RECORD_SIZE } from '../../src/ingest/protocol.js';
import { fuzzParameters, fuzzTimeout } from './settings.js';

const CONTROL_KIND = { hello: FrameKind.HELLO, ready: FrameKind.READY, log: FrameKind.LOG, profile_done: FrameKind.PROFILE_DONE };

/** Pushes `bytes` cut at `cuts`, ends the stream, and checks the decoder's accounting. */
function decode(bytes: Buffer, cuts: number[]) {
  let framed = 0;
  let delivered = 0;
  const decoder = new FrameDecoder({
    events: (type, payload, count) => {
      expect(payload.length).toBe(count * RECORD_SIZE[type]!);
      delivered++;
    },
    stats: (payload, count) => expect(payload.length).toBe(count * STAT_RECORD_SIZE),
    control: (kind, message) => expect(isWellFormedControl(CONTROL_KIND[kind], message)).toBe(true),
    profile: (kind, payload, count) => {
      if (kind === FrameKind.PROFILE_SAMPLES) expect(payload.length).toBe(count * PROFILE_SAMPLE_SIZE);
    },
    frame: (h) => { framed += FRAME_HEADER_SIZE + h.length; },
  });
  let at = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b).concat(bytes.length)) {
    decoder.push(bytes.subarray(at, cut));
    at = cut;
  }
  decoder.end();
  // Every byte was in a delivered frame or counted as skipped: none vanish silently.
  expect(framed + decoder.counters.skippedBytes).toBe(bytes.length);
  return { decoder, delivered };
}

const knownTypes = Object.values(RecordType).filter((t) => RECORD_SIZE[t]! > 0);

/** A valid frame of any kind the protocol has. */
const frame = fc.oneof(
  fc.tuple(fc.constantFrom(...knownTypes), fc.integer({ min: 0, max: 4 })).map(([type, n]) =>
    (seq: number) => encodeFrame(FrameKind.EVENTS, Buffer.alloc(n * RECORD_SIZE[type]!, 0x5a), seq, n, type)),
  fc.integer({ min: 0, max: 4 }).map((n) => (seq: number) => encodeFrame(FrameKind.STATS, Buffer.alloc(n * STAT_RECORD_SIZE, 1), seq, n)),
  fc.constantFrom<[number, unknown]>(
    [FrameKind.HELLO, { protocol: 1, helper: 'h', kernel: 'k', pid: 1, ncpus: 2, sensors: [{ id: 0, name: 'process', programs: ['p'], record_types: [1] }] }],
    [FrameKind.READY, { load_ms: 1, attach_ms: 1, sensors: ['process'] }],
    [FrameKind.LOG, { level: 'info', msg: 'x' }],
    [FrameKind.PROFILE_DONE, { hz: 99, seconds: 1, duration_ms: 1000, ncpus: 2, samples: 3, stack_errors: { kernel_missing: 0, user_missing: 0, lost: 0, other: 0 } }],
  ).map(([kind, message]) => (seq: number) => encodeFrame(kind, Buffer.from(JSON.stringify(message)), seq)),
  fc.integer({ min: 0, max: 3 }).map((n) => (seq: number) => encodeFrame(FrameKind.PROFILE_SAMPLES, Buffer.alloc(n * PROFILE_SAMPLE_SIZE), seq, n)),
  fc.uint8Array({ maxLength: 64 }).map((b) => (seq: number) => encodeFrame(FrameKind.PROFILE_STACKS, b, seq, 1)),
);

/** Damage done to a valid stream: a byte changed, bytes cut out or slipped in, a header field rewritten. */
const damage: fc.Arbitrary<(b: Buffer) => Buffer> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, v]) => (b: Buffer) => {
    const c = Buffer.from(b);
    if (c.length) c[at % c.length] = v;
    return c;
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })).map(([at, n]) => (b: Buffer) =>
    Buffer.concat([b.subarray(0, at % (b.length + 1)), b.subarray((at % (b.length + 1)) + n)])),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([at, junk]) => (b: Buffer) =>
    Buffer.concat([b.subarray(0, at % (b.length + 1)), junk, b.subarray(at % (b.length + 1))])),
  fc.tuple(fc.nat(), fc.constantFrom(4, 6, 8, 12, 16), fc.nat()).map(([at, field, v]) => (b: Buffer) => {
    const c = Buffer.from(b);
    const o = (at % Math.max(1, c.length - FRAME_HEADER_SIZE)) + field;
    if (o + 4 <= c.length) c.writeUInt32LE(v >>> 0, o);
    return c;
  }),
  fc.nat().map((at) => (b: Buffer) => b.subarray(0, at % (b.length + 1))),
);

describe('frame decoder fuzz', () => {
  it('raw bytes in any chunks: no throw, every byte accounted for', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      decode(Buffer.from(bytes), cuts);
    }), fuzzParameters(2000, 4));
  }, fuzzTimeout(4));

  it('damaged streams of valid frames: no throw, every byte accounted for, a clean stream loses nothing', () => {
    fc.assert(fc.property(fc.array(frame, { minLength: 1, maxLength: 12 }), fc.array(damage, { maxLength: 3 }), fc.array(fc.nat(), { maxLength: 6 }),
      (frames, damages, cuts) => {
        const clean = Buffer.concat(frames.map((f, seq) => f(seq)));
        const stream = damages.reduce<Buffer>((b, d) => d(b), clean);
        const { decoder } = decode(stream, cuts);
        if (damages.length === 0) {
          expect(decoder.counters).toMatchObject({ frames: frames.length, malformed: 0, skippedBytes: 0, lostFrames: 0, truncated: 0 });
        }
      }), fuzzParameters(2000, 5));
  }, fuzzTimeout(3));

  it('frames after the damage are delivered once the decoder is past it', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 6 }), (junk, n) => {
      const type = knownTypes[0]!;
      const good = Array.from({ length: n }, (_, i) => encodeFrame(FrameKind.EVENTS, Buffer.alloc(RECORD_SIZE[type]!), i, 1, type));
      // Junk with no magic in it cannot hide a frame: every following one is delivered.
      const noMagic = Buffer.from(junk).toString('latin1').replaceAll('BWF1', 'BWF0');
      const { delivered } = decode(Buffer.concat([Buffer.from(noMagic, 'latin1'), ...good]), []);
      expect(delivered).toBe(n);
    }), fuzzParameters(1000, 3));
  }, fuzzTimeout(3));
});
