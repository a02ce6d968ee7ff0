// pprof: a gzip-compressed perftools.profiles.Profile (github.com/google/pprof,
// proto/profile.proto), read by `go tool pprof`, Pyroscope, Parca and speedscope. Hand-encoded
// into one buffer; the field numbers below are profile.proto's.
import { gzipSync } from 'node:zlib';
import type { Frame, Profile } from '../model.js';
import { ByteWriter } from '../../metrics/byte-writer.js';

const LEN = 2;
/** Field numbers of profile.proto, by message. */
const F = {
  profile: { sampleType: 1, sample: 2, mapping: 3, location: 4, function: 5, stringTable: 6, timeNanos: 9, durationNanos: 10, periodType: 11, period: 12, defaultSampleType: 14 },
  valueType: { type: 1, unit: 2 },
  sample: { locationId: 1, value: 2, label: 3 },
  label: { key: 1, num: 3 },
  mapping: { id: 1, filename: 5, hasFunctions: 7 },
  location: { id: 1, mappingId: 2, line: 4 },
  line: { functionId: 1 },
  function: { id: 1, name: 2, systemName: 3 },
} as const;

class Writer extends ByteWriter {
  constructor() {
    super(undefined, 64 * 1024);
  }

  /** A non-negative integer below 2^53, or any uint64 as a bigint. */
  varint(n: number | bigint): void {
    this.ensure(10);
    if (typeof n === 'bigint') {
      while (n > 0x7fn) {
        this.byte(Number(n & 0x7fn) | 0x80);
        n >>= 7n;
      }
      this.byte(Number(n));
      return;
    }
    while (n > 0x7fffffff) {
      this.byte((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    while (n > 0x7f) {
      this.byte((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    this.byte(n);
  }

  /** A varint field; zero is proto3's default and is left out. */
  uint(field: number, n: number | bigint): void {
    if (n === 0 || n === 0n) return;
    this.varint(field << 3);
    this.varint(n);
  }

  string(field: number, s: string): void {
    const n = Buffer.byteLength(s);
    this.ensure(n + 16);
    this.varint((field << 3) | LEN);
    this.varint(n);
    this.pos += this.buf.write(s, this.pos);
  }

  /** Starts a length-delimited field: reserves one byte for its length. */
  begin(field: number): number {
    this.varint((field << 3) | LEN);
    this.ensure(1);
    return this.pos++;
  }

  /** Ends a field begun at `start`, moving its content when the length needs more than a byte. */
  end(start: number): void {
    let len = this.pos - start - 1;
    let width = 1;
    for (let l = len; l > 0x7f; l = Math.floor(l / 128)) width++;
    if (width > 1) {
      this.ensure(width - 1);
      this.buf.copyWithin(start + width, start + 1, this.pos);
      this.pos += width - 1;
    }
    let p = start;
    while (len > 0x7f) {
      this.buf[p++] = (len & 0x7f) | 0x80;
      len >>>= 7;
    }
    this.buf[p] = len;
  }
}

/** Sampling period in ns: pprof's period is an integer, so the CPU values are count × this. */
export function periodNanos(hz: number): number {
  return Math.round(1e9 / hz);
}

export function renderPprof(profile: Profile): Buffer {
  const strings = new Map<string, number>([['', 0]]);
  const str = (s: string): number => {
    let i = strings.get(s);
    if (i === undefined) strings.set(s, (i = strings.size));
    return i;
  };
  const mappings = new Map<string, number>();
  const locations = new Map<string, { id: number; frame: Frame }>();
  const locationId = (f: Frame): number => {
    const key = `${f.kind}\0${f.module ?? ''}\0${f.name}`;
    let loc = locations.get(key);
    if (!loc) {
      loc = { id: locations.size + 1, frame: f };
      locations.set(key, loc);
      if (f.module !== undefined && !mappings.has(f.module)) mappings.set(f.module, mappings.size + 1);
    }
    return loc.id;
  };

  const period = periodNanos(profile.hz);
  const w = new Writer();
  for (const [type, unit] of [['samples', 'count'], ['cpu', 'nanoseconds']] as const) {
    const vt = w.begin(F.profile.sampleType);
    w.uint(F.valueType.type, str(type));
    w.uint(F.valueType.unit, str(unit));
    w.end(vt);
  }
  const pidKey = str('pid');
  for (const s of profile.samples) {
    if (s.count <= 0) continue;
    const sample = w.begin(F.profile.sample);
    const ids = w.begin(F.sample.locationId); // packed, leaf first as pprof requires
    for (let i = s.frames.length - 1; i >= 0; i--) w.varint(locationId(s.frames[i]!));
    w.end(ids);
    const values = w.begin(F.sample.value);
    w.varint(s.count);
    w.varint(s.count * period);
    w.end(values);
    // A pid label lets `go tool pprof -tagfocus pid=…` split one comm's processes.
    const label = w.begin(F.sample.label);
    w.uint(F.label.key, pidKey);
    w.uint(F.label.num, s.pid);
    w.end(label);
    w.end(sample);
  }
  for (const [file, id] of mappings) {
    const m = w.begin(F.profile.mapping);
    w.uint(F.mapping.id, id);
    w.uint(F.mapping.filename, str(file));
    w.uint(F.mapping.hasFunctions, 1);
    w.end(m);
  }
  // One function per location: a frame is all we know (no lines, no addresses after symbolization).
  for (const { id, frame } of locations.values()) {
    const loc = w.begin(F.profile.location);
    w.uint(F.location.id, id);
    if (frame.module !== undefined) w.uint(F.location.mappingId, mappings.get(frame.module)!);
    const line = w.begin(F.location.line);
    w.uint(F.line.functionId, id);
    w.end(line);
    w.end(loc);
  }
  for (const { id, frame } of locations.values()) {
    const fn = w.begin(F.profile.function);
    w.uint(F.function.id, id);
    w.uint(F.function.name, str(frame.name));
    w.uint(F.function.systemName, str(frame.name));
    w.end(fn);
  }
  const cpu = str('cpu');
  const nanoseconds = str('nanoseconds');
  for (const s of strings.keys()) w.string(F.profile.stringTable, s);
  w.uint(F.profile.timeNanos, BigInt(Math.round(profile.startedAt)) * 1_000_000n);
  w.uint(F.profile.durationNanos, Math.round(profile.seconds * 1e9));
  const pt = w.begin(F.profile.periodType);
  w.uint(F.valueType.type, cpu);
  w.uint(F.valueType.unit, nanoseconds);
  w.end(pt);
  w.uint(F.profile.period, period);
  w.uint(F.profile.defaultSampleType, cpu);
  return gzipSync(w.finish());
}
