// Text into XML and HTML. Escaping alone is not enough for XML: control characters, lone
// surrogates and U+FFFE/U+FFFF are not allowed even as references, so they become U+FFFD.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const SPECIAL = /[&<>"']/g;
const ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `s` safe as XML/HTML text and as a quoted attribute value. */
export function escapeXml(s: string): string {
  return s.replace(NOT_XML_CHAR, '\uFFFD').replace(SPECIAL, (c) => ENTITY[c] ?? c);
}
