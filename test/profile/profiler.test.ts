// The profiler against a stand-in helper: a shell script that replays prepared frames, so the
// command line, frame parsing, errors, abort and concurrency are checked without a kernel.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BpfwasmError } from '../../src/errors.js';
import { encodeFrame } from '../../src/ingest/frame-encoder.js';
import { FrameKind } from '../../src/ingest/protocol.js';
import type { Profile, RawProfile } from '../../src/profile/model.js';
import { Profiler, type ProfileRequest } from '../../src/profile/profiler.js';

const DONE = {
  hz: 99, seconds: 1, duration_ms: 1002, ncpus: 2, samples: 7,
  stack_errors: { kernel_missing: 1, user_missing: 2, lost: 3, other: 4 },
};

function sampleRecord(tgid: number, pid: number, kid: number, uid: number, count: number, comm: string): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt32LE(tgid, 0);
  b.writeUInt32LE(pid, 4);
  b.writeInt32LE(kid, 8);
  b.writeInt32LE(uid, 12);
  b.writeBigUInt64LE(BigInt(count), 16);
  b.write(comm, 24, 'utf8');
  return b;
}

function stackRecord(id: number, ips: bigint[]): Buffer {
  const b = Buffer.alloc(8 + ips.length * 8);
  b.writeInt32LE(id, 0);
  b.writeUInt32LE(ips.length, 4);
  ips.forEach((ip, i) => { b.writeBigUInt64LE(ip, 8 + i * 8); });
  return b;
}

function mapsRecord(tgid: number, text: string): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(tgid, 0);
  return Buffer.concat([head, Buffer.from(text)]);
}

const HELLO = JSON.stringify({ protocol: 1, helper: 'fake', kernel: 'x', pid: 1, ncpus: 2, sensors: [] });

/** A well-formed profile-mode stream, as PROTOCOL.md orders it. */
function goodStream(): Buffer {
  let seq = 0;
  const json = (kind: number, v: unknown) => encodeFrame(kind, Buffer.from(JSON.stringify(v)), seq++);
  return Buffer.concat([
    encodeFrame(FrameKind.HELLO, Buffer.from(HELLO), seq++),
    encodeFrame(FrameKind.PROCESS_MAPS, mapsRecord(42, '00400000-00401000 r-xp 00000000 08:01 12 /bin/burn\n'), seq++),
    encodeFrame(FrameKind.PROCESS_MAPS, mapsRecord(42, 'a later snapshot\n'), seq++),
    encodeFrame(FrameKind.PROFILE_STACKS, Buffer.concat([stackRecord(5, [0x401000n, 0x401100n]), stackRecord(9, [0xffffffff81000000n])]), seq++, 2),
    encodeFrame(FrameKind.PROFILE_STACKS, stackRecord(11, []), seq++, 1),
    encodeFrame(FrameKind.PROFILE_SAMPLES, Buffer.concat([sampleRecord(42, 43, 9, 5, 6, 'burn'), sampleRecord(42, 42, -14, 5, 1, 'fifteen-chars-x')]), seq++, 2),
    json(FrameKind.PROFILE_DONE, DONE),
  ]);
}

interface Fake { path: string; argsFile: string; dir: string }

/** A helper that writes its arguments to a file, replays `stream`, then runs `tail` (shell). */
function fakeHelper(stream: Buffer, tail = 'exit 0', stderr = ''): Fake {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-fake-helper-'));
  const framesFile = join(dir, 'frames.bin');
  const argsFile = join(dir, 'args');
  writeFileSync(framesFile, stream);
  const path = join(dir, 'helper');
  writeFileSync(path, `#!/bin/sh\necho "$@" > '${argsFile}'\ncat '${framesFile}'\n${stderr ? `echo '${stderr}' >&2\n` : ''}${tail}\n`);
  chmodSync(path, 0o755);
  return { path, argsFile, dir };
}

const REQ: ProfileRequest = { hz: 99, seconds: 1, kernel: true, user: true, idle: false };

/** Keeps the raw profile so the test can look at what was parsed. */
function capturingSymbolizer() {
  const seen: RawProfile[] = [];
  const symbolize = async (raw: RawProfile, meta: { id: string; startedAt: number; filters: Profile['filters'] }): Promise<Profile> => {
    seen.push(raw);
    return {
      ...meta, hz: raw.hz, seconds: raw.seconds, samples: [], totalSamples: raw.samples.reduce((n, s) => n + s.count, 0),
      stackErrors: raw.stackErrors, warnings: [],
    };
  };
  return { seen, symbolize };
}

const never = () => new AbortController().signal;

describe('Profiler', () => {
  it('runs the helper in profile mode and parses samples, stacks and maps', async () => {
    const fake = fakeHelper(goodStream());
    const { seen, symbolize } = capturingSymbolizer();
    const phases: string[] = [];
    const profiler = new Profiler({ helperPath: fake.path, maxConcurrent: 1, symbolize });
    const profile = await profiler.run({ ...REQ, pid: process.pid, kernel: false, idle: true }, never(), (p) => phases.push(p));

    expect(readFileSync(fake.argsFile, 'utf8').trim())
      .toBe(`--profile --hz 99 --seconds 1 --pid ${process.pid} --no-kernel --include-idle`);
    expect(phases).toEqual(['sampling', 'symbolizing']);
    expect(profile.filters).toEqual({ pid: process.pid, kernel: false, user: true, idle: true });
    expect(profile.totalSamples).toBe(7);
    const raw = seen[0]!;
    expect(raw).toMatchObject({ hz: 99, seconds: 1, durationMs: 1002, ncpus: 2 });
    expect(raw.stackErrors).toEqual({ kernelMissing: 1, userMissing: 2, lost: 3, other: 4 });
    expect(raw.samples).toEqual([
      { tgid: 42, pid: 43, kernelStackId: 9, userStackId: 5, count: 6, comm: 'burn' },
      { tgid: 42, pid: 42, kernelStackId: -14, userStackId: 5, count: 1, comm: 'fifteen-chars-x' },
    ]);
    expect([...raw.stacks]).toEqual([[5, [0x401000n, 0x401100n]], [9, [0xffffffff81000000n]], [11, []]]);
    // The first snapshot of a process' maps is the one kept.
    expect(raw.maps.get(42)).toBe('00400000-00401000 r-xp 00000000 08:01 12 /bin/burn\n');
  });

  it('refuses an unknown pid before spawning anything', async () => {
    const fake = fakeHelper(goodStream());
    const profiler = new Profiler({ helperPath: fake.path, maxConcurrent: 1, symbolize: capturingSymbolizer().symbolize });
    await expect(profiler.run({ ...REQ, pid: 2 ** 30 }, never()))
      .rejects.toMatchObject({ code: 'PROFILE_NO_PROCESS', statusCode: 404, message: expect.stringContaining(`pid ${2 ** 30}`) });
    expect(() => statSync(fake.argsFile)).toThrow();
  });

  it('passes a cgroup path as its inode number, an id as is, and refuses unknown or escaping paths', async () => {
    const fake = fakeHelper(goodStream());
    const root = mkdtempSync(join(tmpdir(), 'bpfwasm-cgroup-'));
    mkdirSync(join(root, 'system.slice', 'x.service'), { recursive: true });
    const ino = statSync(join(root, 'system.slice', 'x.service')).ino;
    const profiler = new Profiler({ helperPath: fake.path, maxConcurrent: 1, cgroupRoot: root, symbolize: capturingSymbolizer().symbolize });

    const p = await profiler.run({ ...REQ, cgroup: '/system.slice/x.service' }, never());
    expect(readFileSync(fake.argsFile, 'utf8')).toContain(`--cgroup ${ino}`);
    expect(p.filters.cgroup).toBe('/system.slice/x.service');
    await profiler.run({ ...REQ, cgroup: '1234' }, never());
    expect(readFileSync(fake.argsFile, 'utf8')).toContain('--cgroup 1234');
    await expect(profiler.run({ ...REQ, cgroup: 'nope.slice' }, never())).rejects.toMatchObject({ code: 'PROFILE_NO_CGROUP', statusCode: 404 });
    await expect(profiler.run({ ...REQ, cgroup: '../etc' }, never())).rejects.toMatchObject({ code: 'PROFILE_INVALID', statusCode: 400 });
    // Ids are u64: past that (23 digits) or 0 is a 400 here, not the helper's failure (a 500).
    for (const id of ['12345678901234567890123', '18446744073709551616', '0']) {
      await expect(profiler.run({ ...REQ, cgroup: id }, never())).rejects.toMatchObject({
        code: 'PROFILE_INVALID', statusCode: 400, message: `a cgroup id must be from 1 to 18446744073709551615, got ${id}`,
      });
    }
    await profiler.run({ ...REQ, cgroup: '018446744073709551615' }, never());
    expect(readFileSync(fake.argsFile, 'utf8')).toContain('--cgroup 18446744073709551615');
  });

  it('reports a failing helper with its last stderr line', async () => {
    const fake = fakeHelper(Buffer.alloc(0), 'exit 3', 'bpfwasm-helper: missing CAP_BPF and CAP_PERFMON');
    const profiler = new Profiler({ helperPath: fake.path, maxConcurrent: 1 });
    await expect(profiler.run(REQ, never())).rejects.toMatchObject({
      code: 'PROFILE_FAILED',
      message: 'profile helper exited with code 3: bpfwasm-helper: missing CAP_BPF and CAP_PERFMON',
    });
  });

  it('reports a missing helper binary', async () => {
    const profiler = new Profiler({ helperPath: '/nonexistent/bpfwasm-helper', maxConcurrent: 1 });
    await expect(profiler.run(REQ, never())).rejects.toMatchObject({ code: 'HELPER_MISSING' });
  });

  it('fails on a stream without PROFILE_DONE and on a damaged stack record', async () => {
    const noDone = fakeHelper(encodeFrame(FrameKind.HELLO, Buffer.from(HELLO), 0));
    await expect(new Profiler({ helperPath: noDone.path, maxConcurrent: 1 }).run(REQ, never()))
      .rejects.toMatchObject({ code: 'PROFILE_FAILED', message: 'profile helper exited without PROFILE_DONE' });
    const bad = stackRecord(5, [1n, 2n]).subarray(0, 16); // says depth 2, holds 1
    const damaged = fakeHelper(encodeFrame(FrameKind.PROFILE_STACKS, bad, 0, 1));
    await expect(new Profiler({ helperPath: damaged.path, maxConcurrent: 1 }).run(REQ, never()))
      .rejects.toMatchObject({ code: 'PROFILE_FAILED', message: 'PROFILE_STACKS record 5 overruns its frame' });
  });

  it('stops the helper when the client goes away, and answers busy while one runs', async () => {
    // The helper greets, then samples "forever"; exec makes SIGTERM reach the sleeping process.
    const fake = fakeHelper(encodeFrame(FrameKind.HELLO, Buffer.from(HELLO), 0), 'exec sleep 30');
    const profiler = new Profiler({ helperPath: fake.path, maxConcurrent: 1 });
    const ac = new AbortController();
    let sampling!: () => void;
    const started = new Promise<void>((r) => (sampling = r));
    const first = profiler.run({ ...REQ, seconds: 20 }, ac.signal, (p) => { if (p === 'sampling') sampling(); });
    await started;

    const busy = await profiler.run(REQ, never()).then(() => undefined, (e: unknown) => e as BpfwasmError);
    expect(busy).toMatchObject({ code: 'PROFILER_BUSY', statusCode: 429 });
    const retry = busy!.retryAfterSeconds!;
    expect(retry).toBeGreaterThanOrEqual(18);
    expect(retry).toBeLessThanOrEqual(20);

    const t0 = Date.now();
    ac.abort();
    await expect(first).rejects.toMatchObject({ code: 'PROFILE_ABORTED' });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(profiler.retryAfterSeconds()).toBe(0);
  });

  it('close stops every running profile with PROFILE_INTERRUPTED, waits for them, and refuses new ones', async () => {
    const fake = fakeHelper(encodeFrame(FrameKind.HELLO, Buffer.from(HELLO), 0), 'exec sleep 30');
    const profiler = new Profiler({ helperPath: fake.path, maxConcurrent: 2 });
    let sampling!: () => void;
    const started = new Promise<void>((r) => (sampling = r));
    const running = profiler.run({ ...REQ, seconds: 20 }, never(), (p) => { if (p === 'sampling') sampling(); });
    const outcome = running.then(() => undefined, (e: unknown) => e as BpfwasmError);
    await started;
    const t0 = Date.now();
    await profiler.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await outcome).toMatchObject({ code: 'PROFILE_INTERRUPTED', statusCode: 503, retryAfterSeconds: 5 });
    expect(profiler.retryAfterSeconds()).toBe(0);
    await expect(profiler.run(REQ, never())).rejects.toMatchObject({ code: 'PROFILE_INTERRUPTED' });
    await profiler.close(); // nothing running: at once
  });
});
