// How samples are grouped under the process root: by comm (the default, one tower per program
// name) or by pid (one tower per process under its comm, to tell workers of one program apart).
import type { StackSample } from '../model.js';

export type GroupBy = 'comm' | 'pid';
export const GROUP_BY: readonly GroupBy[] = ['comm', 'pid'];

/** The frame naming one process under its comm root: `pid 1234`. */
export function pidFrameName(pid: number): string {
  return `pid ${pid}`;
}

/** `samples` with a `pid N` frame after the process root when grouping by pid; as they are by comm. */
export function groupSamples(samples: StackSample[], groupBy: GroupBy = 'comm'): StackSample[] {
  if (groupBy === 'comm') return samples;
  return samples.map((s) => {
    const [root, ...rest] = s.frames;
    if (root?.kind !== 'process') return s;
    return { ...s, frames: [root, { name: pidFrameName(s.pid), kind: 'process' }, ...rest] };
  });
}
