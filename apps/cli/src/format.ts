/**
 * Text output for people: aligned tables and short values. Everything shown comes from the
 * gateway, and some of it from agents (tool names, reasons, comments), so control characters
 * are escaped before they reach a terminal that would obey them.
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** The text with control characters (escape sequences, newlines) shown as escapes, not obeyed. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** At most `max` characters, an ellipsis marking a cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** A cell: null and undefined as `-`, anything else as printable text. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  return printable(typeof value === 'string' ? value : JSON.stringify(value));
}

/**
 * Rows under headers, each column as wide as its widest cell, two spaces apart; the last column
 * is not padded, so lines carry no trailing spaces.
 */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `1 version`, `3 versions`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** An ISO time without its milliseconds, for tables (the JSON keeps them). */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace(/\.\d+Z$/, 'Z');
}

/** A value as compact JSON, cut to `max` characters. */
export function brief(value: unknown, max = 200): string {
  return clip(printable(JSON.stringify(value) ?? 'null'), max);
}
