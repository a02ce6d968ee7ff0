// WWW-Authenticate challenges (RFC 9110 §11.6.1) from a registry's 401: `Basic realm="…"` or
// `Bearer realm="…",service="…",scope="…"` (the distribution token protocol). Parsed by hand,
// bounded, and total over hostile input: a header that does not parse yields no challenge.

export interface Challenge {
  /** Lowercased scheme: 'basic', 'bearer', or another the client does not speak. */
  readonly scheme: string;
  /** Parameters by lowercased name. */
  readonly params: ReadonlyMap<string, string>;
}

const MAX_HEADER_BYTES = 8192;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** The challenges of one WWW-Authenticate header value, in order; [] when it does not parse. */
export function parseChallenges(header: string): Challenge[] {
  if (header.length > MAX_HEADER_BYTES) return [];
  const out: { scheme: string; params: Map<string, string> }[] = [];
  let s = header;
  const skip = (re: RegExp) => {
    const m = re.exec(s);
    if (m) s = s.slice(m[0].length);
    return m;
  };
  for (;;) {
    skip(/^[\s,]*/);
    if (s === '') return out;
    const scheme = skip(TOKEN);
    if (!scheme) return [];
    const challenge = { scheme: scheme[0].toLowerCase(), params: new Map<string, string>() };
    out.push(challenge);
    // Parameters until the next scheme (a token not followed by '=') or the end.
    for (;;) {
      skip(/^[\s,]*/);
      // A token68 credential hint (`Negotiate abc==`) stands alone right after its scheme.
      if (challenge.params.size === 0 && skip(/^[A-Za-z0-9._~+/-]+=*\s*(?=,|$)/)) break;
      const name = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*/.exec(s);
      if (!name) break; // the next challenge
      s = s.slice(name[0].length);
      let value: string;
      if (s.startsWith('"')) {
        const q = /^"((?:[^"\\]|\\[\s\S])*)"/.exec(s);
        if (!q) return [];
        value = q[1]!.replace(/\\([\s\S])/g, '$1');
        s = s.slice(q[0].length);
      } else {
        const t = TOKEN.exec(s);
        if (!t) return [];
        value = t[0];
        s = s.slice(t[0].length);
      }
      const key = name[1]!.toLowerCase();
      if (!challenge.params.has(key)) challenge.params.set(key, value);
      skip(/^\s*/);
      if (s !== '' && !s.startsWith(',')) return [];
    }
  }
}
