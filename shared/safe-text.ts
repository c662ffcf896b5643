/**
 * Characters that must never reach a terminal or a mail reader raw: C0
 * controls, DEL, C1 controls (U+009B is a one-byte CSI to some terminals),
 * the bidi marks, embeddings, overrides and isolates that reorder what a
 * person reads, and the Unicode line and paragraph separators.
 */
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** The same set without the backslash: what JSON.stringify leaves raw that a terminal must not see. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');

/**
 * Makes an agent-supplied string safe for one line of a terminal or a mail
 * body: every control, DEL, C1, bidi and line-separator character is shown
 * as an escape (`\n`, `\x1b`, `\u202e`) and a backslash as `\\`, so the
 * output is one line, reads in logical order, and maps back to exactly one
 * input. Printable Unicode is kept. The escapes are the ones bash reads
 * inside `$'…'`.
 */
export function safeText(s: string): string {
  return s.replace(UNSAFE, (c) => NAMED[c] ?? (c.charCodeAt(0) < 0x100 ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/**
 * `JSON.stringify(value, null, 2)` with DEL, C1 and bidi characters written as
 * `\u` escapes too: the parsed value is the same, but a terminal printing
 * the JSON sees no raw CSI and no reordering.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(JSON_UNSAFE, (c) => `\\u${hex(c, 4)}`);
}

/**
 * A shell word for a command line a person pastes: plain when it is one,
 * single-quoted when it has no character `safeText` escapes, else bash's
 * `$'…'` with the `safeText` escapes, so the line stays one line and pastes
 * the exact bytes.
 */
export function shellWord(s: string): string {
  if (/^[\w@%+=:,./-]+$/.test(s)) return s;
  if (s.search(UNSAFE) < 0) return `'${s.replace(/'/g, `'\\''`)}'`;
  return `$'${safeText(s).replace(/'/g, "\\'")}'`;
}
