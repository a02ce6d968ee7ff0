// Label values and series keys, shared by the host's store and the exporters' workers (which
// answer `series` themselves): one rule for what a label value may hold, one key per label set.

/**
 * C0 control characters other than tab and newline, and DEL: the exposition formats have no
 * escape for them (only `\\`, `\"` and `\n`), so they would be written raw, and NUL would also
 * make label sets ambiguous for tools that join values with it.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this regex's job
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/** Why `value` cannot be a label value, or undefined when it can. */
export function labelValueProblem(value: string): string | undefined {
  const m = CONTROL.exec(value);
  if (!m) return undefined;
  const code = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
  return `label value contains control character U+${code} at offset ${m.index}`;
}

/**
 * The key of a label set of one family: each value prefixed by its length, so no two label
 * sets share a key whatever characters their values hold.
 */
export function seriesKey(familyId: number, values: readonly string[]): string {
  let key = String(familyId);
  for (const v of values) key += `|${v.length}:${v}`;
  return key;
}

/** The family id a `seriesKey` was made from. */
export function familyOfKey(key: string): number {
  const bar = key.indexOf('|');
  return Number(bar < 0 ? key : key.slice(0, bar));
}
