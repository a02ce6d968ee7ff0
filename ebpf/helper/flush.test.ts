// How the helper writes a flush (PROTOCOL.md "When the helper flushes"), on the running kernel:
// an exec storm (bench/storm.c) makes fork, exec and exit records in every flush, and each flush
// must reach the reader as ONE write of all its frames (one wake-up of the reader, not one per
// record type), still one frame per record type with consecutive seqs, nothing lost when the
// reader falls behind mid-write. Needs root; a sensor that cannot load fails.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameKind as Kind, StatKind as Stat } from '../../src/ingest/protocol.js';
import { EBPF_DIR, HELPER, HelperFrames, HelperRun, buildHelper } from '../../test/support/helper-run.js';

let tmp: string;
let storm: string;

beforeAll(() => {
  buildHelper();
  tmp = mkdtempSync(join(tmpdir(), 'bpfwasm-flush-'));
  storm = join(tmp, 'storm');
  execFileSync('cc', ['-O2', '-pthread', '-o', storm, join(EBPF_DIR, '..', 'bench', 'storm.c')]);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Write-family system calls the process made so far (/proc/PID/io syscw: every writev counts once, EAGAIN included). */
const writeCalls = (pid: number) => Number(/^syscw:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);

/** vfork+exec of /bin/true for `seconds` by 2 workers: fork, exec and exit records on both CPUs. */
const execStorm = (seconds: number) => new Promise<void>((resolve, reject) => {
  execFile(storm, [String(seconds), '2', 'exec', '/bin/true'], (err) => (err ? reject(err) : resolve()));
});

const eventsFrames = (run: HelperRun) => run.frames.filter((f) => f.kind === Kind.EVENTS);

/** RECORDS_WRITTEN of the last STATS, per record type. */
function writtenByType(run: HelperFrames): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of run.statsFrames.at(-1)!.stats) if (s.kind === Stat.RECORDS_WRITTEN) out.set(s.index, Number(s.value));
  return out;
}

describe('helper flush', () => {
  it('writes the frames of all record types of a flush in one write', async () => {
    // STATS only at the end: between them, every write of the helper is a flush. A 20 ms stream wait,
    // not the default's 200: ~40 flushes in the second, whatever the default (it left ~8, on the edge).
    const run = new HelperRun(['--sensors', 'process', '--stats-ms', '60000', '--busy-poll-ms', '20']);
    await run.waitReady();
    await sleep(100);
    const pid = run.proc.pid!;
    const frames0 = eventsFrames(run).length;
    const writes0 = writeCalls(pid);
    await execStorm(1);
    await sleep(200); // the tail: --busy-poll-ms 20
    const writes = writeCalls(pid) - writes0;
    const frames = eventsFrames(run).slice(frames0);
    await run.stop();
    expect(run.errors).toEqual([]); // seqs consecutive, every frame well formed
    const types = new Set(frames.map((f) => f.recordType));
    console.log(`exec storm 1 s: ${frames.length} EVENTS frames of ${types.size} record types in ${writes} writes`);
    expect(types.size).toBeGreaterThanOrEqual(3); // fork, exec, exit
    expect(frames.length).toBeGreaterThan(30);
    // One write per frame before: now one per flush, and most flushes carry all three types.
    expect(writes).toBeLessThan(frames.length / 2);
    // Still one frame per record type per flush, never a type twice in a row in one write.
    expect(writes).toBeGreaterThanOrEqual(Math.ceil(frames.length / types.size));
  }, 30_000);

  it('a reader that falls behind mid-write gets every frame whole, in order, counted as written', async () => {
    // The helper's stdout a pipe (non-blocking, output_init), through cat to this reader: with this
    // reader stalled the pipe fills, and the big flush after the stall (checked with strace) is cut
    // part way, gets EAGAIN and is resumed once the pipe drains.
    const args = ['--sensors', 'process', '--stats-ms', '60000'];
    const frames = new HelperFrames(args);
    const sh = spawn('/bin/sh', ['-c', 'exec "$@" | cat', 'sh', HELPER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    sh.stdout.on('data', (chunk: Buffer) => frames.push(chunk));
    const exited = new Promise((resolve) => sh.on('close', resolve));
    for (let i = 0; i < 100 && !frames.ready; i++) await sleep(50);
    expect(frames.ready).toBeTruthy();
    const stormDone = execStorm(1.5);
    await sleep(300);
    sh.stdout.pause();
    await sleep(700);
    sh.stdout.resume();
    await stormDone;
    await sleep(200);
    sh.stdin.end(); // EOF: the helper sends its last STATS and exits
    await exited;
    frames.end();
    expect(frames.errors).toEqual([]);
    // The final STATS (after the rings were read to the end) counts exactly what arrived, per type.
    const written = writtenByType(frames);
    expect(written).toEqual(new Map([...written.keys()].map((t) => [t, frames.received.get(t) ?? 0])));
    expect([...frames.received.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(500);
  }, 30_000);
});
