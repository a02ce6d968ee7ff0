// Fuzz runs: a fixed seed and a few seconds per property in CI (under 45 s for all of these); `npm run fuzz` scales the runs
// (FUZZ_SCALE, default 1) and takes FUZZ_SEED to replay or vary a run.
import type { Parameters } from 'fast-check';

export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261204);
export const FUZZ_SCALE = Number(process.env.FUZZ_SCALE ?? 1);

/** fast-check parameters for a property that runs `numRuns` times in CI, for at most `seconds` there. */
export function fuzzParameters<T>(numRuns: number, seconds: number): Parameters<T> {
  return {
    seed: FUZZ_SEED,
    numRuns: Math.max(1, Math.round(numRuns * FUZZ_SCALE)),
    // The time budget scales too, so a long run is longer, not cut short at CI's budget.
    interruptAfterTimeLimit: seconds * 1000 * FUZZ_SCALE,
  };
}

/** A vitest timeout for a property given `seconds` of fuzzing, with room for set-up. */
export const fuzzTimeout = (seconds: number) => (seconds * FUZZ_SCALE + 30) * 1000;
