// Workload label rules (resolve kind 5): the defaults, templates, validation.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CgroupLabelRules, CgroupRuleError, DEFAULT_CGROUP_RULES, type CgroupRule } from '../../src/resolve/rules.js';

const ID = '3f6a1d2b9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a';
const SHORT = ID.slice(0, 12);
const UID = '0b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const UID_ = UID.replaceAll('-', '_');
const STATIC_UID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

describe('default rules', () => {
  const rules = new CgroupLabelRules();
  it.each([
    // systemd services
    ['/system.slice/foo.service', 'foo.service'],
    ['/system.slice/nginx.service/worker', 'nginx.service'],
    ['/system.slice/system-getty.slice/getty@tty1.service', 'getty@tty1.service'],
    ['/system.slice/system-a.slice/system-a-b.slice/x.service', 'x.service'],
    // containers outside Kubernetes: the short id
    [`/system.slice/docker-${ID}.scope`, SHORT],
    [`/system.slice/docker-${ID}.scope/init`, SHORT],
    [`/docker/${ID}`, SHORT],
    [`/docker/${ID}/nested`, SHORT],
    [`/system.slice/cri-containerd-${ID}.scope`, SHORT],
    [`/system.slice/crio-${ID}.scope`, SHORT],
    [`/machine.slice/libpod-${ID}.scope/container`, SHORT],
    // Kubernetes pods, systemd driver: UID with its dashes back
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, `pod:${UID}`],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`, `pod:${UID}`],
    [`/kubepods.slice/kubepods-pod${UID_}.slice/crio-${ID}.scope`, `pod:${UID}`],
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_UID}.slice`, `pod:${STATIC_UID}`],
    // Kubernetes pods, cgroupfs driver
    [`/kubepods/burstable/pod${UID}`, `pod:${UID}`],
    [`/kubepods/besteffort/pod${UID}/${ID}`, `pod:${UID}`],
    [`/kubepods/pod${UID}/${ID}`, `pod:${UID}`],
    [`/kubepods/burstable/pod${STATIC_UID}/${ID}`, `pod:${STATIC_UID}`],
    // user sessions, user services included
    ['/user.slice/user-1000.slice', 'user-1000'],
    ['/user.slice/user-1000.slice/session-3.scope', 'user-1000'],
    ['/user.slice/user-0.slice/user@0.service/app.slice/foo.service', 'user-0'],
    // nothing to say
    ['/', ''],
    ['/init.scope', ''],
    ['/system.slice', ''],
    ['/user.slice', ''],
    ['/kubepods.slice/kubepods-burstable.slice', ''],
    [`/system.slice/docker-${ID.slice(0, 63)}.scope`, ''], // not a full id
    [`/system.slice/docker-${ID.toUpperCase()}.scope`, ''],
    ['/system.slice/foo.servicex', ''],
    ['/bpfwasm-test/system.slice/foo.service', ''], // systemd's slices are at the root
  ])('%s → %j', (path, label) => expect(rules.label(path)).toBe(label));

  it('default rules are frozen and validate', () => {
    expect(Object.isFrozen(DEFAULT_CGROUP_RULES)).toBe(true);
    expect(() => new CgroupLabelRules(DEFAULT_CGROUP_RULES)).not.toThrow();
  });

  it('any 64-hex container id gives its first 12 hex digits (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{64}$/), fc.constantFrom('docker-', 'cri-containerd-', 'crio-', 'libpod-'), (id, runtime) => {
        const short = id.slice(0, 12);
        return rules.label(`/system.slice/${runtime}${id}.scope`) === short && rules.label(`/docker/${id}`) === short;
      }),
    );
  });

  it('any pod UID comes back dashed from either driver (property)', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.constantFrom('burstable', 'besteffort', ''), (uuid, qos) => {
        const slice = qos ? `kubepods-${qos}.slice/kubepods-${qos}-pod` : 'kubepods-pod';
        return (
          rules.label(`/kubepods.slice/${slice}${uuid.replaceAll('-', '_')}.slice/x`) === `pod:${uuid}` &&
          rules.label(`/kubepods/${qos ? `${qos}/` : ''}pod${uuid}/x`) === `pod:${uuid}`
        );
      }),
    );
  });

  it('never throws on path-like strings, and labels only what a rule matched (property)', () => {
    const pieces = ['/', 'a', 'f0', '_', '-', '.', 'é', '\u0000', 'docker', '-pod', 'kubepods', '.slice', '.scope', 'user-1', 'system.slice', 'x.service'];
    const paths = fc.array(fc.constantFrom(...pieces), { maxLength: 30 }).map((p) => p.join(''));
    fc.assert(
      fc.property(paths, (path) => {
        const label = rules.label(path);
        return typeof label === 'string' && (label === '' || /(service|scope|slice|pod|user-|[0-9a-f]{12})/.test(path));
      }),
      { numRuns: 500 },
    );
  });
});

describe('custom rules', () => {
  it.each<[string, CgroupRule[], string, string]>([
    ['$1', [{ match: '/(a+)(b*)$', label: 'x-$1' }], '/z/aab', 'x-aa'],
    ['$<n> numbered', [{ match: '([0-9])', label: '$<1>0' }], '/7', '70'],
    ['$1 then a digit via $<1>', [{ match: '([0-9])', label: '$<1>2' }], '/5', '52'],
    ['greedy $12', [{ match: '(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)', label: '$12' }], 'abcdefghijkl', 'l'],
    ['named (?P<>)', [{ match: '/team-(?P<team>[a-z]+)\\.slice', label: 'team=$<team>' }], '/team-web.slice', 'team=web'],
    ['named (?<>)', [{ match: '/team-(?<team>[a-z]+)', label: '$<team>' }], '/team-db', 'db'],
    ['$$ is a dollar', [{ match: 'x', label: 'cost$$' }], 'x', 'cost$'],
    ['$0 is the whole match', [{ match: '[a-z]+\\.slice', label: '$0' }], '/foo.slice/bar', 'foo.slice'],
    ['unmatched optional group is ""', [{ match: '/a(b)?', label: '[$1]' }], '/a', '[]'],
    ['no groups', [{ match: 'batch', label: 'batch' }], '/x/batch-1', 'batch'],
    ['empty label on match', [{ match: 'x', label: '' }, { match: 'x', label: 'second' }], 'x', ''],
    [
      'first match wins',
      [
        { match: '^/a/', label: 'first' },
        { match: '^/a/b', label: 'second' },
      ],
      '/a/b',
      'first',
    ],
    ['later rule when the first misses', [{ match: '^/q', label: 'q' }, { match: 'b$', label: 'b' }], '/a/b', 'b'],
    ['no match is ""', [{ match: '^/q', label: 'q' }], '/a', ''],
    ['empty list is always ""', [], '/system.slice/foo.service', ''],
    ['RE2 flags', [{ match: '(?i)^/SYSTEM', label: 'sys' }], '/system.slice', 'sys'],
    ['UTF-8 paths', [{ match: '/(é+)', label: '$1!' }], '/éé', 'éé!'],
  ])('%s', (_, rules, path, label) => expect(new CgroupLabelRules(rules).label(path)).toBe(label));
});

describe('rule validation names the rule', () => {
  const ok = { match: 'a', label: 'a' };
  it.each<[string, unknown[], string]>([
    ['bad regex', [ok, { match: 'a(', label: 'x' }], 'cgroups.rules[1]: match is not a valid RE2 regex: error parsing regexp: missing closing ): `a(`'],
    ['non-RE2 syntax', [{ match: '(?=x)', label: 'x' }], 'cgroups.rules[0]: match is not a valid RE2 regex: error parsing regexp: invalid or unsupported Perl syntax: `(?=`'],
    ['group out of range', [ok, ok, { match: '(a)(b)', label: '$3' }], 'cgroups.rules[2]: label refers to group 3, but match has 2 groups'],
    ['group out of range, one group', [{ match: '(a)', label: '$<2>' }], 'cgroups.rules[0]: label refers to group 2, but match has 1 group'],
    ['unknown name', [{ match: '(?P<a>x)', label: '$<b>' }], 'cgroups.rules[0]: label refers to $<b>, but match has no group named "b"'],
    ['lone $', [{ match: 'x', label: 'a$' }], 'cgroups.rules[0]: label has a "$" at offset 1 not followed by a group (write $$ for a dollar sign)'],
    ['$ then a letter', [{ match: '(x)', label: '$x' }], 'cgroups.rules[0]: label has a "$" at offset 0 not followed by a group'],
    ['empty match', [{ match: '', label: 'x' }], 'cgroups.rules[0]: match must be a non-empty string (an RE2 regex)'],
    ['missing label', [{ match: 'x' }], 'cgroups.rules[0]: label must be a string'],
    ['numeric label', [{ match: 'x', label: 3 }], 'cgroups.rules[0]: label must be a string'],
    ['typo key', [{ match: 'x', lable: 'y', label: 'z' }], 'cgroups.rules[0]: unknown key "lable" (rules have match and label)'],
    ['not an object', [ok, 'x'], 'cgroups.rules[1]: must be an object { match, label }'],
    ['null', [null], 'cgroups.rules[0]: must be an object { match, label }'],
  ])('%s', (_, rules, message) => {
    let error: unknown;
    try {
      new CgroupLabelRules(rules as CgroupRule[]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CgroupRuleError);
    expect((error as Error).message.startsWith(message)).toBe(true);
    expect((error as CgroupRuleError).index).toBe(Number(/\[(\d+)\]/.exec(message)![1]));
  });

  it('refuses a list that is not a list', () => {
    expect(() => new CgroupLabelRules({} as unknown as CgroupRule[])).toThrow('cgroups.rules must be a list of { match, label }');
  });
});
