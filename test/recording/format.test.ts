// The recording file is hostile input to `exporters test`: every frame is checked before use,
// anything malformed is RECORDING_INVALID naming its offset, and what the encoder writes
// decodes to exactly what it was given.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BpfwasmError } from '../../src/errors.js';
import { encodeBatch, RecordType } from '../../src/testing/index.js';
import { encodeFrame } from '../../src/ingest/frame-encoder.js';
import { RECORD_SIZE, SCHEMA_VERSION } from '../../src/ingest/generated/events.js';
import {
  MAX_RECORDED_NAMES, RECORDING_FORMAT, RECORDING_VERSION, RecordingEncoder, RecordingKind, decodeRecording,
  type RecordingFrame, type RecordingHeader,
} from '../../src/recording/format.js';

const HEADER: RecordingHeader = {
  format: RECORDING_FORMAT, version: RECORDING_VERSION, schema_version: SCHEMA_VERSION, collector: '0.1.0', max_batch_bytes: 65512,
  kernel: '6.18.0', arch: 'x64', started_unix_ms: 1_700_000_000_000,
  filter: { types: ['process_exec'], pid: 0, comm: 'sh', cgroup: '' }, limits: { events: 10, bytes: 0, seconds: 5 },
};

const decode = (bytes: Uint8Array) => [...decodeRecording(bytes)];

function refusal(bytes: Uint8Array): string {
  try {
    decode(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(BpfwasmError);
    expect((e as BpfwasmError).code).toBe('RECORDING_INVALID');
    return (e as Error).message;
  }
  throw new Error('decoded without complaint');
}

function valid(): Buffer {
  const e = new RecordingEncoder();
  return Buffer.concat([
    e.header(HEADER),
    e.names([{ kind: 4, id: 42n, name: '/system.slice/x.service' }, { kind: 1, id: 0n, name: 'read' }]),
    e.clock(123_456_789n),
    e.events(RecordType.process_exec, encodeBatch(RecordType.process_exec, [{ comm: 'sh', tgid: 7, cgroup_id: 42 }]), 1),
    e.lost(3),
    e.end({ events: 1, batches: 1, lost: 3, duration_ms: 12, stopped: 'events' }),
  ]);
}

/** `valid()` with the JSON payload of frame number `index` replaced (sequence numbers kept). */
function withJsonFrame(index: number, kind: number, value: unknown): Buffer {
  const frames: Buffer[] = [];
  const bytes = valid();
  let off = 0;
  for (let i = 0; off < bytes.length; i++) {
    const length = bytes.readUInt32LE(off + 8);
    const frame = bytes.subarray(off, off + 24 + length);
    frames.push(i === index ? encodeFrame(kind, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), i) : frame);
    off += 24 + length;
  }
  return Buffer.concat(frames);
}

describe('recording format', () => {
  it('decodes what the encoder wrote', () => {
    const frames = decode(valid());
    expect(frames.map((f) => f.kind)).toEqual(['header', 'names', 'clock', 'events', 'lost', 'end']);
    expect(frames[0]).toEqual({ kind: 'header', header: HEADER });
    expect(frames[1]).toEqual({ kind: 'names', names: [{ kind: 4, id: 42n, name: '/system.slice/x.service' }, { kind: 1, id: 0n, name: 'read' }] });
    expect(frames[2]).toEqual({ kind: 'clock', monotonicNs: 123_456_789n });
    const events = frames[3] as Extract<RecordingFrame, { kind: 'events' }>;
    expect([events.recordType, events.count, events.payload.length]).toEqual([RecordType.process_exec, 1, RECORD_SIZE[RecordType.process_exec]]);
    expect(frames[4]).toEqual({ kind: 'lost', events: 3 });
    expect(frames[5]).toMatchObject({ kind: 'end', end: { events: 1, stopped: 'events' } });
  });

  it('accepts a recording cut after a whole frame (a killed recorder), without END', () => {
    const e = new RecordingEncoder();
    const cut = Buffer.concat([e.header(HEADER), e.clock(1n), e.events(RecordType.process_exec, encodeBatch(RecordType.process_exec, [{}]), 1)]);
    expect(decode(cut).map((f) => f.kind)).toEqual(['header', 'clock', 'events']);
  });

  const exec = RecordType.process_exec;
  const size = RECORD_SIZE[exec]!;
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['an empty file', () => new Uint8Array(0), /the file is empty/],
    ['a file that is not a recording', () => Buffer.from('# HELP something\nmetric 1\n'), /no frame magic.*not a recording/],
    ['a helper stream (first frame not the header)', () => encodeFrame(RecordingKind.EVENTS, encodeBatch(exec, [{}]), 0, 1, exec), /first frame is not the recording header/],
    ['a header cut short', () => valid().subarray(0, 10), /ends inside a frame header/],
    ['a frame cut short', () => valid().subarray(0, valid().length - 5), /ends inside a frame/],
    ['a format version from the future', () => new RecordingEncoder().header({ ...HEADER, version: 2 }), /format version 2/],
    ['another event schema', () => new RecordingEncoder().header({ ...HEADER, schema_version: SCHEMA_VERSION + 1 }), /event schema version/],
    ['a header without its fields', () => encodeFrame(RecordingKind.HEADER, Buffer.from(JSON.stringify({ format: RECORDING_FORMAT, version: 1, schema_version: SCHEMA_VERSION })), 0), /max_batch_bytes/],
    ['a batch size past the frame limit', () => new RecordingEncoder().header({ ...HEADER, max_batch_bytes: 2 << 20 }), /max_batch_bytes/],
    ['a header that is not JSON', () => encodeFrame(RecordingKind.HEADER, Buffer.from('{nope'), 0), /does not parse/],
    ['a sequence gap', () => Buffer.concat([new RecordingEncoder().header(HEADER), encodeFrame(RecordingKind.CLOCK, Buffer.alloc(8), 5)]), /sequence 5 where 1/],
    ['a length past 1 MiB', () => { const b = valid(); b.writeUInt32LE((1 << 20) + 1, 8); return b; }, /more than 1048576/],
    ['an unknown frame kind', () => withJsonFrame(4, 9, { events: 1 }), /frame kind 9/],
    ['a second header', () => withJsonFrame(4, RecordingKind.HEADER, HEADER), /second header/],
    ['records of an unknown type', () => Buffer.concat([new RecordingEncoder().header(HEADER), encodeFrame(RecordingKind.EVENTS, Buffer.alloc(48), 1, 1, 999)]), /record type 999/],
    ['records that do not fill the frame', () => Buffer.concat([new RecordingEncoder().header(HEADER), encodeFrame(RecordingKind.EVENTS, Buffer.alloc(size + 1), 1, 1, exec)]), /is not 1 records/],
    ['an EVENTS frame of 0 records', () => Buffer.concat([new RecordingEncoder().header(HEADER), encodeFrame(RecordingKind.EVENTS, Buffer.alloc(0), 1, 0, exec)]), /is not 0 records/],
    ['a name id past 64 bits', () => withJsonFrame(1, RecordingKind.NAMES, [[4, '18446744073709551616', 'x']]), /64 bits/],
    ['a name of a negative kind', () => withJsonFrame(1, RecordingKind.NAMES, [[-1, '1', 'x']]), /\[kind, "id", "name"\]/],
    ['a name id that is a number', () => withJsonFrame(1, RecordingKind.NAMES, [[4, 1, 'x']]), /\[kind, "id", "name"\]/],
    ['a name longer than any the resolver gives', () => withJsonFrame(1, RecordingKind.NAMES, [[4, '1', 'x'.repeat(4097)]]), /\[kind, "id", "name"\]/],
    ['NAMES that is not a list', () => withJsonFrame(1, RecordingKind.NAMES, { a: 1 }), /not a list/],
    ['a CLOCK frame of the wrong size', () => Buffer.concat([new RecordingEncoder().header(HEADER), encodeFrame(RecordingKind.CLOCK, Buffer.alloc(4), 1)]), /CLOCK frame is not 8 bytes/],
    ['a LOST frame without a count', () => withJsonFrame(4, RecordingKind.LOST, { events: -1 }), /LOST frame is malformed/],
    ['an END frame without counts', () => withJsonFrame(5, RecordingKind.END, { events: 1 }), /END frame is malformed/],
    ['bytes after END', () => Buffer.concat([valid(), Buffer.from([0x42])]), /after the END frame/],
  ];
  it.each(cases)('refuses %s', (_what, bytes, message) => {
    expect(refusal(bytes())).toMatch(message);
  });

  it(`refuses more than ${MAX_RECORDED_NAMES} resolver answers`, () => {
    const e = new RecordingEncoder();
    const names = Array.from({ length: MAX_RECORDED_NAMES + 1 }, (_, i) => ({ kind: 4, id: BigInt(i + 1), name: 'n' }));
    expect(refusal(Buffer.concat([e.header(HEADER), e.names(names)]))).toMatch(/more than 262144 resolver answers/);
  });

  it('splits many long names over frames within the size limit', () => {
    const e = new RecordingEncoder();
    const names = Array.from({ length: 600 }, (_, i) => ({ kind: 4, id: BigInt(i + 1), name: `/${'é'.repeat(2000)}` }));
    const frames = decode(Buffer.concat([e.header(HEADER), e.names(names)]));
    expect(frames.length).toBeGreaterThan(2);
    expect(frames.flatMap((f) => (f.kind === 'names' ? f.names : []))).toEqual(names);
  });

  it('property: any bytes either decode or are refused as RECORDING_INVALID, never anything else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      try {
        decode(bytes);
      } catch (e) {
        return e instanceof BpfwasmError && e.code === 'RECORDING_INVALID';
      }
      return true;
    }), { numRuns: 500 });
  });

  it('property: a valid recording with bytes changed is refused as RECORDING_INVALID or decodes to checked frames', () => {
    const base = valid();
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (changes) => {
      const bytes = Buffer.from(base);
      for (const [at, v] of changes) bytes[at] = v;
      try {
        for (const f of decodeRecording(bytes)) {
          if (f.kind === 'events') expect(f.payload.length).toBe(f.count * RECORD_SIZE[f.recordType]!);
        }
      } catch (e) {
        return e instanceof BpfwasmError && e.code === 'RECORDING_INVALID';
      }
      return true;
    }), { numRuns: 1000 });
  });

  it('property: every encoded sequence of batches and names decodes to the same values', () => {
    const record = fc.record({ comm: fc.string({ maxLength: 15 }), tgid: fc.nat(), cgroup_id: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) });
    const step = fc.oneof(
      fc.array(record, { minLength: 1, maxLength: 5 }).map((records) => ({ records })),
      fc.array(fc.record({ kind: fc.integer({ min: 1, max: 7 }), id: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), name: fc.string({ maxLength: 50 }) }), { maxLength: 4 }).map((names) => ({ names })),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 10 }), (steps) => {
      const e = new RecordingEncoder();
      const parts = [e.header(HEADER)];
      for (const s of steps) {
        if ('records' in s) parts.push(e.events(RecordType.process_exec, encodeBatch(RecordType.process_exec, s.records), s.records.length));
        else if (s.names.length) parts.push(e.names(s.names));
      }
      const frames = decode(Buffer.concat(parts)).slice(1);
      const expected = steps.filter((s) => !('names' in s) || s.names.length);
      expect(frames).toHaveLength(expected.length);
      frames.forEach((f, i) => {
        const s = expected[i]!;
        if ('records' in s) {
          expect(f).toMatchObject({ kind: 'events', count: s.records.length });
          expect(Buffer.from((f as { payload: Uint8Array }).payload)).toEqual(Buffer.from(encodeBatch(RecordType.process_exec, s.records)));
        } else {
          expect(f).toEqual({ kind: 'names', names: s.names });
        }
      });
    }), { numRuns: 200 });
  });
});
