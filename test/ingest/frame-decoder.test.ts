import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, parseStats } from '../../src/ingest/frame-decoder.js';
import { encodeFrame } from '../../src/ingest/frame-encoder.js';
import { READ_BUFFER_BYTES } from '../../src/ingest/helper-supervisor.js';
import { FrameKind, MAX_FRAME_PAYLOAD, StatKind } from '../../src/ingest/protocol.js';
import { HeaderOffset, ProcessExitOffset, RECORD_SIZE, RecordType } from '../../src/ingest/generated/events.js';

interface Seen { type: number; count: number; bytes: Buffer }

function collect() {
  const events: Seen[] = [];
  const stats: { count: number; bytes: Buffer }[] = [];
  const control: [string, unknown][] = [];
  const decoder = new FrameDecoder({
    events: (type, payload, count) => events.push({ type, count, bytes: Buffer.from(payload) }),
    stats: (payload, count) => stats.push({ count, bytes: Buffer.from(payload) }),
    control: (kind, msg) => control.push([kind, msg]),
  });
  return { decoder, events, stats, control };
}

function exitRecords(n: number, tgidBase = 100): Buffer {
  const size = RECORD_SIZE[RecordType.process_exit]!;
  const buf = Buffer.alloc(size * n);
  for (let i = 0; i < n; i++) {
    const o = i * size;
    buf.writeUInt16LE(RecordType.process_exit, o + HeaderOffset.type);
    buf.writeUInt16LE(size, o + HeaderOffset.size);
    buf.writeUInt32LE(tgidBase + i, o + HeaderOffset.tgid);
    buf.write('sh', o + HeaderOffset.comm);
    buf.writeUInt32LE(3, o + ProcessExitOffset.exit_code);
  }
  return buf;
}

const events = (n: number, seq: number) => encodeFrame(FrameKind.EVENTS, exitRecords(n), seq, n, RecordType.process_exit);

describe('FrameDecoder', () => {
  it('decodes golden bytes of one EVENTS frame', () => {
    // magic "BWF1", version 1, kind 2, length 72, count 1, type 3, flags 0, seq 7, then one 72-byte exit record
    const golden = Buffer.from(
      '42574631' + '0100' + '0200' + '48000000' + '01000000' + '0300' + '0000' + '07000000' +
      '0300' + '4800' + '00000000' + '0000000000000000' + '00000000' + '64000000' + '0000000000000000' +
      '7368000000000000' + '0000000000000000' +
      '00000000' + '03000000' + '00000000' + '00000000' + '0000000000000000',
      'hex',
    );
    expect(golden).toEqual(events(1, 7));
    const { decoder, events: seen } = collect();
    decoder.push(golden);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.type).toBe(RecordType.process_exit);
    expect(seen[0]!.count).toBe(1);
    expect(seen[0]!.bytes.readUInt32LE(HeaderOffset.tgid)).toBe(100);
    expect(seen[0]!.bytes.readUInt32LE(ProcessExitOffset.exit_code)).toBe(3);
    expect(decoder.counters).toMatchObject({ frames: 1, malformed: 0, skippedBytes: 0, lostFrames: 0 });
  });

  it('parses control frames and stats records', () => {
    const { decoder, control, stats } = collect();
    const hello = { protocol: 1, helper: 'h', kernel: 'k', pid: 1, ncpus: 2, sensors: [{ id: 0, name: 'process', programs: ['p'], record_types: [1] }] };
    decoder.push(encodeFrame(FrameKind.HELLO, Buffer.from(JSON.stringify(hello)), 0));
    const stat = Buffer.alloc(16);
    stat.writeUInt16LE(StatKind.RING_DROPS, 0);
    stat.writeUInt16LE(0, 2);
    stat.writeUInt16LE(0, 4);
    stat.writeUInt16LE(1, 6);
    stat.writeBigUInt64LE(42n, 8);
    decoder.push(encodeFrame(FrameKind.STATS, stat, 1, 1));
    decoder.push(encodeFrame(FrameKind.READY, Buffer.from('{"load_ms":1,"attach_ms":0.5,"sensors":["process"]}'), 2));
    expect(control).toEqual([['hello', hello], ['ready', { load_ms: 1, attach_ms: 0.5, sensors: ['process'] }]]);
    expect(parseStats(stats[0]!.bytes, stats[0]!.count)).toEqual([{ kind: 1, sensor: 0, index: 0, cpu: 1, value: 42 }]);
  });

  it.each<[string, number, unknown]>([
    ['a HELLO that is not an object', FrameKind.HELLO, 1],
    ['a HELLO without sensors', FrameKind.HELLO, { helper: 'h', kernel: 'k', ncpus: 2 }],
    ['a HELLO with a billion CPUs (a series per CPU each)', FrameKind.HELLO, { helper: 'h', kernel: 'k', ncpus: 1e9, sensors: [] }],
    ['a HELLO with a sensor lacking its name', FrameKind.HELLO, { helper: 'h', kernel: 'k', ncpus: 2, sensors: [{ programs: [], record_types: [] }] }],
    ['a READY without timings', FrameKind.READY, { sensors: [] }],
    ['a LOG with a number as message', FrameKind.LOG, { level: 'info', msg: 3 }],
    ['a PROFILE_DONE without stack errors', FrameKind.PROFILE_DONE, { hz: 1, seconds: 1, duration_ms: 1, ncpus: 1, samples: 0 }],
  ])('refuses %s as malformed, before any handler sees it', (_name, kind, message) => {
    const { decoder, control } = collect();
    decoder.push(encodeFrame(kind, Buffer.from(JSON.stringify(message)), 0));
    expect(control).toEqual([]);
    expect(decoder.counters.malformed).toBe(1);
  });

  it('reassembles frames split at every byte boundary', () => {
    const stream = Buffer.concat([events(2, 0), events(3, 1)]);
    for (let cut = 1; cut < stream.length; cut++) {
      const { decoder, events: seen } = collect();
      decoder.push(stream.subarray(0, cut));
      decoder.push(stream.subarray(cut));
      expect(seen.map((e) => e.count)).toEqual([2, 3]);
    }
  });

  it('reassembles frames larger than a read, in reads of any size, each frame intact and in order', () => {
    // Profile frames reach 1 MiB: carried in one buffer of their size, grown when a bigger one comes.
    const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);
    const payloads = [bytes(100, 1), bytes(300_000, 2), bytes(70_000, 3), bytes(1 << 20, 4), bytes(24, 5)];
    const stream = Buffer.concat(payloads.map((p, seq) => encodeFrame(FrameKind.PROFILE_STACKS, p, seq, 1)));
    for (const read of [1000, 64 * 1024, 128 * 1024 - 7]) {
      const seen: Buffer[] = [];
      const decoder = new FrameDecoder({ events: () => {}, stats: () => {}, control: () => {}, profile: (_kind, payload) => seen.push(Buffer.from(payload)) });
      for (let at = 0; at < stream.length; at += read) decoder.push(stream.subarray(at, at + read));
      decoder.end();
      expect(seen.map((p) => p.length), `reads of ${read}`).toEqual(payloads.map((p) => p.length));
      for (const [i, p] of seen.entries()) expect(p.equals(payloads[i]!), `frame ${i}, reads of ${read}`).toBe(true);
      expect(decoder.counters).toMatchObject({ frames: payloads.length, malformed: 0, skippedBytes: 0, truncated: 0 });
    }
  });

  it('property: EVENTS frames up to 1 MiB (a stream\'s flush) decode exactly across reads of any size, every record once and in order', () => {
    const size = RECORD_SIZE[RecordType.process_exit]!;
    const perFrame = Math.floor(MAX_FRAME_PAYLOAD / size);
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: perFrame }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: READ_BUFFER_BYTES }), { minLength: 1, maxLength: 6 }),
      (counts, reads) => {
        let tgid = 0;
        const frames = counts.flatMap((n, i) => [
          encodeFrame(FrameKind.EVENTS, exitRecords(n, (tgid += n) - n), 2 * i, n, RecordType.process_exit),
          encodeFrame(FrameKind.STATS, Buffer.alloc(16), 2 * i + 1, 1),
        ]);
        const stream = Buffer.concat(frames);
        const { decoder, events: seen, stats } = collect();
        // Reads as the socket gives them: each up to the read buffer, cycling through the sizes drawn.
        for (let at = 0, r = 0; at < stream.length; at += reads[r++ % reads.length]!) decoder.push(stream.subarray(at, at + reads[r % reads.length]!));
        decoder.end();
        expect(seen.map((e) => e.count)).toEqual(counts);
        const tgids = seen.flatMap((e) => Array.from({ length: e.count }, (_, i) => e.bytes.readUInt32LE(i * size + HeaderOffset.tgid)));
        expect(tgids).toEqual(Array.from({ length: tgid }, (_, i) => i));
        expect(stats).toHaveLength(counts.length);
        expect(decoder.counters).toMatchObject({ frames: 2 * counts.length, malformed: 0, skippedBytes: 0, truncated: 0, lostFrames: 0 });
      },
    ), { numRuns: 40 });
  });

  it('counts a truncated tail when the stream ends', () => {
    const { decoder, events: seen } = collect();
    const frame = events(2, 0);
    decoder.push(frame.subarray(0, frame.length - 5));
    decoder.end();
    expect(seen).toHaveLength(0);
    expect(decoder.counters.truncated).toBe(1);
    expect(decoder.counters.skippedBytes).toBe(frame.length - 5);
  });

  it('still delivers the frames a truncated frame swallowed with a corrupt length, when the stream ends', () => {
    const { decoder, events: seen } = collect();
    const bad = events(2, 0);
    bad.writeUInt32LE(1 << 19, 8); // waits for 512 KiB that never come
    const good = Buffer.concat([events(3, 1), events(4, 2)]);
    decoder.push(Buffer.concat([bad, good]));
    expect(seen).toHaveLength(0);
    decoder.end();
    expect(seen.map((e) => e.count)).toEqual([3, 4]);
    expect(decoder.counters).toMatchObject({ truncated: 1, skippedBytes: bad.length, frames: 2 });
  });

  it.each([
    ['a bad version', (f: Buffer) => f.writeUInt16LE(9, 4)],
    ['an unknown kind', (f: Buffer) => f.writeUInt16LE(77, 6)],
    ['a length that disagrees with count × record size', (f: Buffer) => f.writeUInt32LE(3, 12)],
    ['a payload of invalid JSON in a control frame', (f: Buffer) => { f.writeUInt16LE(FrameKind.HELLO, 6); }],
  ])('skips a frame with %s and resynchronises on the next one', (_name, corrupt) => {
    const { decoder, events: seen } = collect();
    const bad = events(2, 0);
    corrupt(bad);
    decoder.push(Buffer.concat([bad, events(4, 1)]));
    expect(seen.map((e) => e.count)).toEqual([4]);
    expect(decoder.counters.malformed).toBeGreaterThanOrEqual(1);
    expect(decoder.counters.frames).toBe(1);
  });

  it('skips garbage between frames and counts the skipped bytes', () => {
    const { decoder, events: seen } = collect();
    const garbage = Buffer.from('not a frame at all, just noise!!');
    decoder.push(Buffer.concat([events(1, 0), garbage, events(2, 1)]));
    expect(seen.map((e) => e.count)).toEqual([1, 2]);
    expect(decoder.counters.skippedBytes).toBe(garbage.length);
  });

  it('skips frames of an unknown record type without losing sync', () => {
    const { decoder, events: seen } = collect();
    decoder.push(encodeFrame(FrameKind.EVENTS, Buffer.alloc(16), 0, 1, 999));
    decoder.push(events(1, 1));
    expect(seen.map((e) => e.count)).toEqual([1]);
    expect(decoder.counters.unknownType).toBe(1);
  });

  it('counts sequence gaps as lost frames, and a restart at seq 0 as a new stream', () => {
    const { decoder } = collect();
    decoder.push(Buffer.concat([events(1, 0), events(1, 1), events(1, 4)]));
    expect(decoder.counters.lostFrames).toBe(2);
    decoder.end();
    decoder.push(events(1, 0));
    expect(decoder.counters.lostFrames).toBe(2);
  });

  it('property: valid frames survive any chunking and any garbage between them', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 20 }), fc.uint8Array({ maxLength: 40 })), { minLength: 1, maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 10 }),
      (frames, cuts) => {
        // Garbage must not contain the magic itself, or it would be a (bad) frame start.
        // Junk goes between frames; a trailing remainder would (rightly) wait for more bytes.
        const parts = frames.flatMap(([n, junk], i) => [Buffer.from(junk).fill(0x20), events(n, i)]);
        const stream = Buffer.concat(parts);
        const { decoder, events: seen } = collect();
        let off = 0;
        for (let i = 0; off < stream.length; i++) {
          const len = cuts[i % cuts.length]!;
          decoder.push(stream.subarray(off, off + len));
          off += len;
        }
        expect(seen.map((e) => e.count)).toEqual(frames.map(([n]) => n));
        expect(decoder.counters.skippedBytes).toBe(frames.reduce((a, [, j]) => a + j.length, 0));
      },
    ));
  });

  it('property: arbitrary bytes never throw, and every delivered batch is well-formed', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), (chunks) => {
      const { decoder, events: seen } = collect();
      for (const c of chunks) decoder.push(Buffer.from(c));
      decoder.end();
      for (const e of seen) expect(e.bytes.length).toBe(e.count * RECORD_SIZE[e.type]!);
    }));
  });
});
