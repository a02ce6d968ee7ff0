// GET /flamegraph: profile CPU stacks now and answer with a flamegraph; /flamegraph/:id serves a
// recent profile again, /flamegraph/diff compares two. Profiling itself is in src/profile/.
import type { FastifyPluginAsync, FastifyReply, FastifySchemaValidationError } from 'fastify';
import { BpfwasmError } from '../../errors.js';
import type { Profile } from '../../profile/model.js';
import type { ProfileStore } from '../../profile/profile-store.js';
import type { Profiler } from '../../profile/profiler.js';
import { GROUP_BY, type GroupBy } from '../../profile/render/group.js';
import { render, renderDiff, type DiffFormat, type ProfileFormat, type Rendered } from '../../profile/render/index.js';
import { checkProfileAccess, type ProfileAccess } from '../profile-access.js';

export interface FlamegraphRouteOptions {
  profiler: Pick<Profiler, 'run'>;
  store: ProfileStore;
  limits: { defaultHz: number; maxHz: number; defaultSeconds: number; maxSeconds: number };
  /** http.profile; loopback clients only when absent. */
  access?: ProfileAccess;
}

const FORMATS: readonly ProfileFormat[] = ['html', 'svg', 'json', 'folded', 'pprof'];
const DIFF_FORMATS: readonly DiffFormat[] = ['html', 'svg', 'json'];
/** Formats a browser should save rather than show. */
const DOWNLOADS = new Set<ProfileFormat>(['folded', 'pprof']);

interface ProfileQuery {
  seconds: number;
  hz: number;
  pid?: number;
  cgroup?: string;
  kernel: boolean;
  user: boolean;
  idle: boolean;
  format: ProfileFormat;
  minShare?: number;
  groupBy: GroupBy;
}

interface PropertySchema {
  type: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  enum?: readonly string[];
  default?: unknown;
}

/** What a parameter must be, said the way the 400 message says it. */
function expectation(p: PropertySchema): string {
  if (p.enum) return `must be one of ${p.enum.join(', ')}`;
  if (p.type === 'boolean') return 'must be true or false';
  if (p.type === 'integer' && p.maximum !== undefined) return `must be from ${p.minimum} to ${p.maximum}`;
  if (p.type === 'number') return `must be a number from ${p.minimum} to ${p.maximum}`;
  if (p.type === 'integer') return `must be an integer of at least ${p.minimum}`;
  return 'must be a non-empty string';
}

/** Ajv's messages name JSON-schema keywords; a user wants the allowed range of the parameter. */
function schemaErrors(properties: Record<string, PropertySchema>) {
  return (errors: FastifySchemaValidationError[]): Error => {
    const e = errors[0];
    const name = e?.instancePath.replace(/^\//, '') || String((e?.params as { missingProperty?: string })?.missingProperty ?? '');
    const prop = properties[name];
    const why = prop ? `${name} ${expectation(prop)}` : (e?.message ?? 'invalid request');
    return new BpfwasmError('PROFILE_INVALID', why);
  };
}

function send(reply: FastifyReply, out: Rendered, format: ProfileFormat, profileId?: string) {
  if (profileId !== undefined) reply.header('X-Profile-Id', profileId);
  reply.type(out.contentType);
  if (DOWNLOADS.has(format)) reply.header('Content-Disposition', `attachment; filename="${out.filename}"`);
  return reply.send(out.body);
}

export const flamegraphRoute: FastifyPluginAsync<FlamegraphRouteOptions> = async (app, opts) => {
  const { limits } = opts;
  const access = opts.access ?? { mode: 'local' };
  // Every route of this plugin (they are all /flamegraph…), before the query is even parsed.
  app.addHook('onRequest', async (req) => checkProfileAccess(access, req));
  const query: Record<string, PropertySchema> = {
    seconds: { type: 'integer', minimum: 1, maximum: limits.maxSeconds, default: limits.defaultSeconds },
    hz: { type: 'integer', minimum: 1, maximum: limits.maxHz, default: limits.defaultHz },
    pid: { type: 'integer', minimum: 1 },
    cgroup: { type: 'string', minLength: 1 },
    kernel: { type: 'boolean', default: true },
    user: { type: 'boolean', default: true },
    idle: { type: 'boolean', default: false },
    format: { type: 'string', enum: FORMATS, default: 'html' },
    // Percent of all samples under which the SVG leaves a frame out (0: every frame).
    minShare: { type: 'number', minimum: 0, maximum: 100 },
    // comm: one tower per program name; pid: each process split out under its comm.
    groupBy: { type: 'string', enum: GROUP_BY, default: 'comm' },
  };
  const stored: Record<string, PropertySchema> = { format: query.format!, minShare: query.minShare!, groupBy: query.groupBy! };
  const renderOptions = (q: { minShare?: number; groupBy: GroupBy }) => ({ groupBy: q.groupBy, ...(q.minShare !== undefined && { minShare: q.minShare / 100 }) });
  const diff: Record<string, PropertySchema> = {
    before: { type: 'string', minLength: 1 },
    after: { type: 'string', minLength: 1 },
    format: { type: 'string', enum: DIFF_FORMATS, default: 'html' },
  };

  app.get<{ Querystring: ProfileQuery }>('/flamegraph', {
    schema: { querystring: { type: 'object', properties: query } },
    schemaErrorFormatter: schemaErrors(query),
  }, async (req, reply) => {
    const { format, minShare, groupBy, ...request } = req.query;
    if (!request.kernel && !request.user) throw new BpfwasmError('PROFILE_INVALID', 'kernel and user cannot both be false');
    // The client going away (closed tab, Ctrl-C) stops the sampling instead of finishing unseen.
    const ac = new AbortController();
    const onClose = () => { if (!reply.raw.writableEnded) ac.abort(); };
    reply.raw.on('close', onClose);
    let profile: Profile;
    try {
      profile = await opts.profiler.run(request, ac.signal, (phase) => req.log.debug({ phase }, 'profile'));
    } finally {
      reply.raw.off('close', onClose);
    }
    opts.store.add(profile);
    return send(reply, render(format, profile, renderOptions({ minShare, groupBy })), format, profile.id);
  });

  app.get<{ Querystring: { before: string; after: string; format: DiffFormat } }>('/flamegraph/diff', {
    schema: { querystring: { type: 'object', properties: diff, required: ['before', 'after'] } },
    schemaErrorFormatter: schemaErrors(diff),
  }, async (req, reply) => {
    const { before, after, format } = req.query;
    return send(reply, renderDiff(format, opts.store.get(before), opts.store.get(after)), format);
  });

  app.get<{ Params: { id: string }; Querystring: { format: ProfileFormat; minShare?: number; groupBy: GroupBy } }>('/flamegraph/:id', {
    schema: { querystring: { type: 'object', properties: stored } },
    schemaErrorFormatter: schemaErrors(stored),
  }, async (req, reply) => {
    const profile = opts.store.get(req.params.id);
    return send(reply, render(req.query.format, profile, renderOptions(req.query)), req.query.format, profile.id);
  });
};
