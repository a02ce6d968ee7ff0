// Workload labels from cgroup paths (kind 5 of the exporter ABI's `resolve` import): config
// `cgroups.rules`, an ordered list of { match, label }. The first rule whose RE2 regex matches
// the path (anywhere: anchor with ^ and $ when needed) gives the label, its template expanded
// with the match's groups; no match gives "". RE2 (re2js) runs in linear time, so a rule from a
// config file cannot make a lookup blow up.
import { RE2JS } from 're2js';

export interface CgroupRule {
  /** An RE2 regex searched for in the cgroup path. */
  match: string;
  /**
   * The label: text with `$1`, `$<1>` (group by number), `$<name>` (named group, written
   * `(?P<name>...)` or `(?<name>...)`) and `$$` (a dollar sign). A group that did not
   * take part in the match expands to "".
   */
  label: string;
}

export class CgroupRuleError extends Error {
  constructor(
    readonly index: number,
    detail: string,
  ) {
    super(`cgroups.rules[${index}]: ${detail}`);
    this.name = 'CgroupRuleError';
  }
}

const UUID_DASHED = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const HEX64 = '([0-9a-f]{12})[0-9a-f]{52}';

/**
 * The default rules, most specific first. Outputs:
 * - Kubernetes pods → `pod:<uid>` with the UID as the API shows it (dashed; static pods have a
 *   32-hex config hash as UID, kept as is), for the pod's cgroup and every container in it.
 *   systemd driver: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/...`
 *   (the driver writes the UID's dashes as `_`); cgroupfs driver:
 *   `/kubepods/burstable/pod<uid>/...`, `/kubepods/pod<uid>/...` (guaranteed QoS).
 * - Containers outside Kubernetes → the first 12 hex digits of the id, as `docker ps`, `crictl ps`
 *   and `podman ps` show it: `.../docker-<64hex>.scope`, `/docker/<64hex>`,
 *   `.../cri-containerd-<64hex>.scope`, `.../crio-<64hex>.scope`, `.../libpod-<64hex>.scope`.
 * - systemd user sessions → `user-<uid>` for everything under `/user.slice/user-<uid>.slice`.
 * - systemd system services → the unit, `foo.service`, for `/system.slice/foo.service` and what is
 *   below it, also in sub-slices (`/system.slice/system-getty.slice/getty@tty1.service`).
 * Anything else (the root, `/init.scope`, other slices) → "".
 */
export const DEFAULT_CGROUP_RULES: readonly CgroupRule[] = Object.freeze([
  {
    match: `kubepods(?:-[a-z]+)*-pod([0-9a-f]{8})_([0-9a-f]{4})_([0-9a-f]{4})_([0-9a-f]{4})_([0-9a-f]{12})\\.slice(?:/|$)`,
    label: 'pod:$1-$2-$3-$4-$5',
  },
  { match: `kubepods(?:-[a-z]+)*-pod([0-9a-f]{32})\\.slice(?:/|$)`, label: 'pod:$1' },
  { match: `/kubepods/(?:[a-z]+/)?pod(${UUID_DASHED}|[0-9a-f]{32})(?:/|$)`, label: 'pod:$1' },
  { match: `/(?:docker|cri-containerd|crio|libpod)-${HEX64}\\.scope(?:/|$)`, label: '$1' },
  { match: `/docker/${HEX64}(?:/|$)`, label: '$1' },
  { match: `^/user\\.slice/(user-[0-9]+)\\.slice(?:/|$)`, label: '$1' },
  { match: `^/system\\.slice/(?:[^/]+\\.slice/)*([^/]+\\.service)(?:/|$)`, label: '$1' },
]);

type Part = string | number; // literal text, or a group index

interface CompiledRule {
  re: RE2JS;
  parts: Part[];
}

/** Parses a label template against the regex's groups, naming what is wrong. */
function compileTemplate(index: number, label: string, groups: number, named: Record<string, number>): Part[] {
  const parts: Part[] = [];
  let text = '';
  for (let i = 0; i < label.length; i++) {
    const c = label[i];
    if (c !== '$') {
      text += c;
      continue;
    }
    const rest = label.slice(i + 1);
    let group: number;
    let m: RegExpExecArray | null;
    if (rest.startsWith('$')) {
      text += '$';
      i += 1;
      continue;
    } else if ((m = /^[0-9]+/.exec(rest))) {
      group = Number(m[0]);
      i += m[0].length;
    } else if ((m = /^<([^>]*)>/.exec(rest))) {
      const ref = m[1]!;
      if (/^[0-9]+$/.test(ref)) group = Number(ref);
      else if (Object.hasOwn(named, ref)) group = named[ref]!;
      else throw new CgroupRuleError(index, `label refers to $<${ref}>, but match has no group named "${ref}"`);
      i += m[0].length;
    } else {
      throw new CgroupRuleError(index, `label has a "$" at offset ${i} not followed by a group (write $$ for a dollar sign)`);
    }
    if (group > groups) {
      throw new CgroupRuleError(index, `label refers to group ${group}, but match has ${groups} group${groups === 1 ? '' : 's'}`);
    }
    if (text) parts.push(text);
    text = '';
    parts.push(group);
  }
  if (text) parts.push(text);
  return parts;
}

function compileRule(rule: unknown, index: number): CompiledRule {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
    throw new CgroupRuleError(index, 'must be an object { match, label }');
  }
  const extra = Object.keys(rule).filter((k) => k !== 'match' && k !== 'label');
  if (extra.length) throw new CgroupRuleError(index, `unknown key ${extra.map((k) => `"${k}"`).join(', ')} (rules have match and label)`);
  const { match, label } = rule as Record<string, unknown>;
  if (typeof match !== 'string' || match === '') throw new CgroupRuleError(index, 'match must be a non-empty string (an RE2 regex)');
  if (typeof label !== 'string') throw new CgroupRuleError(index, 'label must be a string');
  let re: RE2JS;
  try {
    re = RE2JS.compile(match);
  } catch (err) {
    throw new CgroupRuleError(index, `match is not a valid RE2 regex: ${(err as Error).message}`);
  }
  return { re, parts: compileTemplate(index, label, re.groupCount(), re.namedGroups()) };
}

/** A validated, compiled rule list. Construction throws CgroupRuleError for a bad rule. */
export class CgroupLabelRules {
  readonly #rules: CompiledRule[];

  constructor(rules: readonly CgroupRule[] = DEFAULT_CGROUP_RULES) {
    if (!Array.isArray(rules)) throw new TypeError('cgroups.rules must be a list of { match, label }');
    this.#rules = rules.map(compileRule);
  }

  /** The label for a cgroup path: the first matching rule's expanded template, "" if none. */
  label(path: string): string {
    for (const { re, parts } of this.#rules) {
      const m = re.matcher(path);
      if (!m.find()) continue;
      let out = '';
      for (const p of parts) out += typeof p === 'string' ? p : (m.group(p) ?? '');
      return out;
    }
    return '';
  }
}
