// V8 settings for the long-running collector (`bpfwasm run`), set before its other modules load:
// cli.ts imports this module first and loads the rest once it ran. Loading every module at
// start-up keeps most of what it allocates, and V8 answers such survival by growing the young
// generation's semi-spaces from 1 MiB up to 16 MiB each, RSS the idle collector never uses
// again (issue #17: 13 MiB of its 106). A growth factor of 1 keeps them at their initial size,
// as `node --max-semi-space-size=1` would, which cannot be set once V8 runs: this way it holds
// however the collector is started (the bin, systemd, the image, npm start, tests).
//
// Node resets V8's flags to their defaults whenever a worker thread starts, for every thread: so a
// worker started by the collector gets `V8_FLAGS` in its workerData and imports this module first.
import { setFlagsFromString } from 'node:v8';
import { isMainThread, workerData } from 'node:worker_threads';

/** The flags this process runs with, for the worker threads it starts (undefined: V8's defaults). */
export const V8_FLAGS: string | undefined = isMainThread
  ? (process.argv[2] === 'run' ? '--semi-space-growth-factor=1' : undefined)
  : (workerData as { v8Flags?: string } | undefined)?.v8Flags;

if (V8_FLAGS) setFlagsFromString(V8_FLAGS);
