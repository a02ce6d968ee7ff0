// Log lines for a person at a terminal: pino's JSON line rewritten as
// "HH:MM:SS.mmm LEVEL message key=value …"; anything that is not a JSON object passes through.

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Always on a JSON line, so not worth repeating on the screen. */
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return json;
  const time = typeof o.time === 'number' || typeof o.time === 'string' ? new Date(o.time).toISOString().slice(11, 23) : '';
  const level = (typeof o.level === 'number' ? LEVELS[o.level] : String(o.level ?? '')) ?? String(o.level);
  const fields = Object.entries(o).filter(([k]) => !OMIT.has(k)).map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) && v !== '' ? v : JSON.stringify(v)}`);
  return `${[time, level.padEnd(5), String(o.msg ?? ''), ...fields].filter(Boolean).join(' ')}\n`;
}

/** A pino destination that writes each line to `out` in the terminal form. */
export function prettyDestination(out: { write(text: string): unknown }): { write(line: string): void } {
  return { write: (line) => { for (const one of line.split('\n')) if (one) out.write(prettyLine(one)); } };
}
