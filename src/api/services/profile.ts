// Profile: the shared Profiler and limits of GET /flamegraph, with progress while it samples.
import type { ServerWritableStream } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { BpfwasmError } from '../../errors.js';
import type { Profile } from '../../profile/model.js';
import type { ProfileStore } from '../../profile/profile-store.js';
import type { ProfilePhase, Profiler } from '../../profile/profiler.js';
import type { GroupBy } from '../../profile/render/group.js';
import { render, type ProfileFormat } from '../../profile/render/index.js';

export interface ProfileRequestMessage {
  pid: number;
  cgroup: string;
  seconds: number;
  hz: number;
  format: string;
  group_by: string;
}

export type ProfileReplyMessage =
  | { progress: { phase: string; elapsed_seconds: number; total_seconds: number; id: string } }
  | { result: { data: Buffer; samples: number; format: string; id: string; warnings: string[] } };

export interface ProfilingOptions {
  profiler: Pick<Profiler, 'run'>;
  store: ProfileStore;
  limits: { defaultHz: number; maxHz: number; defaultSeconds: number; maxSeconds: number };
  /** How often progress is sent while sampling. */
  progressIntervalMs?: number;
}

const FORMATS: Record<string, ProfileFormat> = {
  FORMAT_PPROF: 'pprof', FORMAT_FOLDED: 'folded', FORMAT_HTML: 'html', FORMAT_SVG: 'svg', FORMAT_JSON: 'json',
};
const GROUPINGS: Record<string, GroupBy> = { GROUP_BY_COMM: 'comm', GROUP_BY_PID: 'pid' };

/** Profile and FinishProfile: the second ends the sampling of a running first by its id. */
export function profileHandlers(opts: ProfilingOptions) {
  const { limits } = opts;
  /** Running profiles by id: aborting one stops its sampling and keeps the samples. */
  const finishers = new Map<string, AbortController>();
  const finish = async (req: { id: string }): Promise<Record<string, never>> => {
    const finisher = finishers.get(req.id);
    if (!finisher) throw new BpfwasmError('PROFILE_NOT_FOUND', `no running profile ${JSON.stringify(req.id)}`);
    finisher.abort();
    return {};
  };
  const profile = async (req: ProfileRequestMessage, call: ServerWritableStream<ProfileRequestMessage, ProfileReplyMessage>): Promise<void> => {
    const seconds = req.seconds || limits.defaultSeconds;
    const hz = req.hz || limits.defaultHz;
    if (seconds < 1 || seconds > limits.maxSeconds) throw new BpfwasmError('PROFILE_INVALID', `seconds must be from 1 to ${limits.maxSeconds}`);
    if (hz < 1 || hz > limits.maxHz) throw new BpfwasmError('PROFILE_INVALID', `hz must be from 1 to ${limits.maxHz}`);
    const format = FORMATS[req.format];
    if (!format) throw new BpfwasmError('PROFILE_INVALID', `format must be one of ${Object.keys(FORMATS).join(', ')}`);
    // An absent field is the enum's zero (comm); a number from a newer client is not a known name.
    const groupBy = GROUPINGS[req.group_by || 'GROUP_BY_COMM'];
    if (!groupBy) throw new BpfwasmError('PROFILE_INVALID', `group_by must be one of ${Object.keys(GROUPINGS).join(', ')}`);

    // The client cancelling (Ctrl-C) stops the sampling instead of finishing unseen.
    const ac = new AbortController();
    const onCancel = () => ac.abort();
    call.on('cancelled', onCancel);
    let phase: ProfilePhase = 'sampling';
    const started = Date.now();
    const id = randomUUID();
    const finisher = new AbortController();
    finishers.set(id, finisher);
    const progress = () => {
      if (call.cancelled) return;
      call.write({ progress: { phase, elapsed_seconds: Math.min(seconds, (Date.now() - started) / 1000), total_seconds: seconds, id } });
    };
    progress();
    const timer = setInterval(progress, opts.progressIntervalMs ?? 250);
    let profile: Profile;
    try {
      profile = await opts.profiler.run(
        { hz, seconds, kernel: true, user: true, idle: false, ...(req.pid && { pid: req.pid }), ...(req.cgroup && { cgroup: req.cgroup }) },
        ac.signal,
        (p) => { phase = p; progress(); },
        { id, finish: finisher.signal },
      );
    } finally {
      finishers.delete(id);
      clearInterval(timer);
      call.off('cancelled', onCancel);
    }
    opts.store.add(profile);
    const out = render(format, profile, { groupBy });
    call.write({ result: { data: out.body, samples: profile.totalSamples, format, id: profile.id, warnings: profile.warnings } });
  };
  return { profile, finish };
}
