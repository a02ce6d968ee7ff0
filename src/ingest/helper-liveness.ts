// Whether the helper still talks: a running helper sends STATS every --stats-ms (a timer, even
// when idle), so a stream with no frame for several intervals is a stalled helper (stopped,
// wedged in the kernel, its pipe blocked), though its process lives and its sensors are attached.

/** Intervals of silence that make a stall: one late STATS frame is not one. */
const STALL_INTERVALS = 3;
const MIN_STALL_MS = 2000;

/** The silence after which a helper with this STATS interval counts as stalled. */
export const stallThresholdMs = (statsMs: number): number => Math.max(MIN_STALL_MS, STALL_INTERVALS * statsMs);

export type LivenessChange = 'stalled' | 'recovered' | undefined;

/** Watches the decoder's frame count; pure but for the clock it is given. */
export class HelperLiveness {
  private watching = false;
  private lastFrames = 0;
  private lastFrameAt = 0;
  stalled = false;
  /** Stalls seen since start, for bpfwasm_helper_stalls_total. */
  stalls = 0;

  constructor(readonly stallMs: number, private readonly now: () => number = () => performance.now()) {}

  /** Starts watching (the helper is ready: from now on it sends STATS). */
  watch(frames: number): void {
    this.watching = true;
    this.stalled = false;
    this.lastFrames = frames;
    this.lastFrameAt = this.now();
  }

  /** Stops watching (the helper exited: that is a restart, not a stall). */
  unwatch(): void {
    this.watching = false;
    this.stalled = false;
  }

  /** How long no frame has come, in ms. */
  get silentMs(): number {
    return this.now() - this.lastFrameAt;
  }

  /** Takes the decoder's frame count now; says when the helper has just stalled or recovered. */
  check(frames: number): LivenessChange {
    if (!this.watching) return undefined;
    if (frames !== this.lastFrames) {
      this.lastFrames = frames;
      this.lastFrameAt = this.now();
      if (!this.stalled) return undefined;
      this.stalled = false;
      return 'recovered';
    }
    if (this.stalled || this.silentMs < this.stallMs) return undefined;
    this.stalled = true;
    this.stalls++;
    return 'stalled';
  }
}
