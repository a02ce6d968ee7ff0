// Plain-text tables for the CLI: columns as wide as their widest cell, numbers right-aligned,
// every line cut to the terminal's width.

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** Cuts `text` to `width` characters, marking the cut with an ellipsis. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

export function pad(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const t = truncate(text, width);
  return align === 'right' ? t.padStart(width) : t.padEnd(width);
}

/** Lines of a table (header first), each at most `maxWidth` characters when given. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[], maxWidth?: number): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => {
    const text = columns.map((c, i) => {
      const last = i === columns.length - 1;
      // The last left-aligned column needs no padding: no trailing blanks.
      return last && c.align !== 'right' ? (cells[i] ?? '') : pad(cells[i] ?? '', widths[i]!, c.align);
    }).join('  ');
    return maxWidth === undefined ? text : truncate(text, maxWidth);
  };
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}
