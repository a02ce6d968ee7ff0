// OCI references as the distribution spec and `docker`/`oras` write them:
// `registry[:port]/repository[:tag][@sha256:digest]`. The registry is always explicit: a
// collector must never guess a default registry for code it will run.

export interface OciReference {
  /** host[:port] */
  readonly registry: string;
  readonly repository: string;
  /** Tag to follow; undefined when only a digest is given. */
  readonly tag: string | undefined;
  /** Pinned manifest digest (`sha256:` and 64 hex digits). */
  readonly digest: string | undefined;
}

const MAX_REFERENCE_BYTES = 512;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Parses `ref`; throws an Error saying which part is wrong. */
export function parseReference(ref: string): OciReference {
  if (typeof ref !== 'string' || ref.length === 0) throw new Error('is empty');
  if (Buffer.byteLength(ref) > MAX_REFERENCE_BYTES) throw new Error(`is longer than ${MAX_REFERENCE_BYTES} bytes`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new Error(`digest ${JSON.stringify(digest)} is not sha256: and 64 lowercase hex digits`);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new Error('has no registry: write registry.example.com[:port]/repository[:tag]');
  const registry = rest.slice(0, slash);
  if (!HOST.test(registry)) throw new Error(`registry ${JSON.stringify(registry)} is not a host[:port]`);
  if (Number(registry.split(':').at(-1)) > 65535) throw new Error(`registry ${JSON.stringify(registry)} has a port past 65535`);
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw new Error(`tag ${JSON.stringify(tag)} is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (path === '' || !path.split('/').every((c) => PATH_COMPONENT.test(c))) {
    throw new Error(`repository ${JSON.stringify(path)} is not lowercase components separated by /`);
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository: path, tag, digest };
}

export function formatReference(r: OciReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}
