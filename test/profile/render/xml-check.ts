// A small strict XML well-formedness check (elements, attributes, references, characters, CDATA), so
// the SVG tests need no XML parser dependency. Throws on the first error.
const NAME = /^[A-Za-z_:][\w:.-]*/;
const BAD_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const REFERENCE = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/y;

function checkText(s: string, at: number): void {
  if (BAD_CHAR.test(s)) throw new Error(`invalid XML character near ${at}`);
  for (let i = s.indexOf('&'); i !== -1; i = s.indexOf('&', i + 1)) {
    REFERENCE.lastIndex = i;
    if (!REFERENCE.test(s)) throw new Error(`bad reference near ${at + i}: ${s.slice(i, i + 12)}`);
  }
  if (s.includes(']]>')) throw new Error(`"]]>" in text near ${at}`);
}

export function assertWellFormedXml(xml: string): void {
  let pos = 0;
  if (xml.startsWith('<?xml')) pos = xml.indexOf('?>') + 2;
  const open: string[] = [];
  let roots = 0;
  while (pos < xml.length) {
    const lt = xml.indexOf('<', pos);
    const text = xml.slice(pos, lt === -1 ? xml.length : lt);
    checkText(text, pos);
    if (open.length === 0 && text.trim() !== '') throw new Error(`text outside the root element near ${pos}`);
    if (lt === -1) break;
    pos = lt + 1;
    if (xml.startsWith('![CDATA[', pos)) {
      if (open.length === 0) throw new Error(`CDATA outside the root element near ${pos}`);
      const end = xml.indexOf(']]>', pos);
      if (end === -1) throw new Error(`unterminated CDATA near ${pos}`);
      if (BAD_CHAR.test(xml.slice(pos, end))) throw new Error(`invalid XML character in CDATA near ${pos}`);
      pos = end + 3;
      continue;
    }
    if (xml[pos] === '/') {
      const name = NAME.exec(xml.slice(pos + 1))?.[0];
      if (!name || name !== open.pop()) throw new Error(`mismatched end tag ${name} near ${pos}`);
      pos += 1 + name.length;
      while (/\s/.test(xml[pos] ?? '')) pos++;
      if (xml[pos] !== '>') throw new Error(`bad end tag near ${pos}`);
      pos++;
      continue;
    }
    const name = NAME.exec(xml.slice(pos))?.[0];
    if (!name) throw new Error(`bad tag near ${pos}`);
    if (open.length === 0 && roots++ > 0) throw new Error('more than one root element');
    pos += name.length;
    const seen = new Set<string>();
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(pos))![0].length;
      pos += ws;
      if (xml.startsWith('/>', pos)) { pos += 2; break; }
      if (xml[pos] === '>') { pos++; open.push(name); break; }
      if (ws === 0) throw new Error(`missing space before attribute near ${pos}`);
      const attr = /^([A-Za-z_:][\w:.-]*)\s*=\s*(["'])/.exec(xml.slice(pos));
      if (!attr) throw new Error(`bad attribute near ${pos}: ${xml.slice(pos, pos + 20)}`);
      if (seen.has(attr[1]!)) throw new Error(`duplicate attribute ${attr[1]}`);
      seen.add(attr[1]!);
      pos += attr[0].length;
      const end = xml.indexOf(attr[2]!, pos);
      if (end === -1) throw new Error('unterminated attribute value');
      const value = xml.slice(pos, end);
      if (value.includes('<')) throw new Error(`"<" in attribute value near ${pos}`);
      checkText(value, pos);
      pos = end + 1;
    }
  }
  if (open.length > 0) throw new Error(`unclosed elements: ${open.join(', ')}`);
  if (roots !== 1) throw new Error('no root element');
}
