// Generated sections inside hand-written files: the text between `<!-- NAME: SOURCE -->` and
// `<!-- /NAME -->` belongs to a generator, the rest to its authors.

/** `text` with the section NAME's body replaced; throws, naming `file`, when its markers are missing. */
export function replaceMarked(text, file, name, source, body) {
  const begin = `<!-- ${name}: ${source} -->`;
  const end = `<!-- /${name} -->`;
  const [from, to] = [text.indexOf(begin), text.indexOf(end)];
  if (from < 0 || to < from) throw new Error(`${file}: the ${name} markers are missing (${begin} … ${end})`);
  return `${text.slice(0, from + begin.length)}\n${body}\n${text.slice(to)}`;
}
