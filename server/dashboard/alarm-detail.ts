import { safeText } from '../../shared/safe-text.ts';
import { html, type SafeHtml } from './template.ts';

/**
 * An alarm's detail for people: short hashes old → new, sizes, modes in
 * octal with their letters, ISO times instead of nanosecond integers, the
 * fleet verdict in words. Every agent-supplied string goes through
 * `safeText` (controls and bidi marks shown as escapes) and then the
 * escaping template.
 */

/** One line of a rendered detail: a label and its value. */
export interface DetailRow {
  label: string;
  value: SafeHtml;
  /** A row a person should see first (outlier, expected). */
  strong?: boolean;
}

const FIELD_LABELS: Record<string, string> = {
  sha256: 'content (SHA-256)',
  size: 'size',
  mode: 'mode',
  uid: 'owner (uid)',
  gid: 'group (gid)',
  ino: 'inode',
  nlink: 'links',
  mtime: 'modified (mtime)',
  ctime: 'inode changed (ctime)',
  target: 'link target',
  type: 'type',
  error: 'read error',
  lastSeen: 'last heartbeat',
  since: 'since',
  at: 'at',
};

/** Text from an agent, made safe to read: one line, controls and bidi marks visible, clipped. */
export function agentText(s: string, max = 300): string {
  const t = safeText(s);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** A SHA-256 cut to 12 hex digits; the full value stays in the title. */
export function shortHash(h: string): SafeHtml {
  return /^[0-9a-f]{64}$/.test(h) ? html`<code title="${h}">${h.slice(0, 12)}…</code>` : html`<code>${agentText(h)}</code>`;
}

/** Bytes for people: `812 B`, `12.3 KiB (12,595 B)`. */
export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]} (${n.toLocaleString('en-US')} B)`;
}

/** A file mode as octal and `ls` letters: `4755 (rwsr-xr-x)`. */
export function formatMode(mode: number): string {
  const p = mode & 0o7777;
  const bit = (m: number, c: string) => (p & m ? c : '-');
  const x = (m: number, special: number, on: string, off: string) => (p & special ? (p & m ? on : off) : bit(m, 'x'));
  const letters =
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    x(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    x(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    x(0o001, 0o1000, 't', 'T');
  return `${p.toString(8).padStart(4, '0')} (${letters})`;
}

/** A nanosecond timestamp (decimal string, as agents report mtime and ctime) as ISO 8601; null when it is not one. */
export function nsToIso(v: unknown): string | null {
  if (typeof v !== 'string' || !/^\d{1,22}$/.test(v)) return null;
  const ms = Number(BigInt(v) / 1_000_000n);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return null;
  const frac = v.length > 9 ? v.slice(-9, -6) : '000';
  return `${d.toISOString().slice(0, 19)}.${frac}Z`;
}

/** A millisecond epoch or ISO string as ISO 8601 to the second; null when it is neither. */
function timeText(v: unknown): string | null {
  if (typeof v === 'number' && v > 1e11 && v < 1e14) return new Date(v).toISOString().replace(/\.\d+Z$/, 'Z');
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v)) return v.replace(/\.\d+Z$/, 'Z');
  return null;
}

/** One value of a known file field, formatted for people. */
export function fieldValue(field: string, v: unknown): SafeHtml {
  if (v === null || v === undefined) return html`<em>none</em>`;
  if (field === 'sha256' && typeof v === 'string') return shortHash(v);
  if (field === 'size' && typeof v === 'number') return html`${formatSize(v)}`;
  if (field === 'mode' && typeof v === 'number') return html`<code>${formatMode(v)}</code>`;
  if ((field === 'mtime' || field === 'ctime') && nsToIso(v)) return html`${nsToIso(v)}`;
  return plainValue(v);
}

/** Any other value: times as ISO, strings made safe, objects as short JSON. */
function plainValue(v: unknown): SafeHtml {
  const t = timeText(v) ?? nsToIso(typeof v === 'string' && v.length >= 16 ? v : null);
  if (t) return html`${t}`;
  if (typeof v === 'string') return html`<code>${agentText(v)}</code>`;
  if (typeof v === 'number' || typeof v === 'boolean') return html`${String(v)}`;
  return html`<code>${agentText(JSON.stringify(v) ?? '', 400)}</code>`;
}

const arrow = (field: string, o: unknown, n: unknown) => html`${fieldValue(field, o)} → ${fieldValue(field, n)}`;
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const label = (k: string) => FIELD_LABELS[k] ?? k;

/** The fleet verdict of a change, in words; null when the detail has none. */
export function fleetVerdict(d: Record<string, unknown>): DetailRow | null {
  const expected = d.expected;
  if (isObj(expected) && typeof expected.sample === 'string') {
    return { label: 'fleet', value: html`expected: sample host <strong>${agentText(expected.sample)}</strong> accepted this very content`, strong: true };
  }
  const f = d.fleet;
  if (!isObj(f)) return null;
  const group = agentText(String(f.group ?? '?'));
  const peers = Number(f.peers ?? 0),
    same = Number(f.same ?? 0);
  if (f.outlier === true)
    return { label: 'fleet', value: html`<strong class="outlier-note">outlier: none of the ${peers} other hosts of group ${group} has this content</strong>`, strong: true };
  if (peers === 0) return { label: 'fleet', value: html`no other host of group ${group} reports this path` };
  return { label: 'fleet', value: html`${same} of the ${peers} other hosts of group ${group} have the same content` };
}

/**
 * The rows of a detail, in reading order: the path, what changed (old → new),
 * the fleet verdict, then the rest. Unknown shapes fall back to one row per
 * key, still formatted and escaped.
 */
export function detailRows(detail: unknown): DetailRow[] {
  if (detail === null || detail === undefined) return [];
  if (!isObj(detail)) return [{ label: 'detail', value: plainValue(detail) }];
  const rows: DetailRow[] = [];
  const done = new Set<string>();
  const take = (k: string) => {
    done.add(k);
    return detail[k];
  };
  if (typeof detail.path === 'string') rows.push({ label: 'path', value: html`<code>${agentText(take('path') as string, 1000)}</code>` });
  const changes = take('changes');
  if (isObj(changes)) {
    for (const [k, c] of Object.entries(changes).slice(0, 30)) {
      rows.push({ label: label(k), value: isObj(c) ? arrow(k, c.old, c.new) : plainValue(c) });
    }
  }
  const o = detail.old,
    n = detail.new;
  if (isObj(o) || isObj(n)) {
    take('old');
    take('new');
    const keys = [...new Set([...Object.keys(isObj(o) ? o : {}), ...Object.keys(isObj(n) ? n : {})])].slice(0, 30);
    for (const k of keys) {
      const ov = isObj(o) ? o[k] : undefined,
        nv = isObj(n) ? n[k] : undefined;
      if (isObj(o) && isObj(n)) rows.push({ label: label(k), value: ov === nv ? fieldValue(k, nv) : arrow(k, ov, nv) });
      else rows.push({ label: `${label(k)}${isObj(o) ? ' (was)' : ''}`, value: fieldValue(k, ov ?? nv) });
    }
  } else if ('old' in detail || 'new' in detail || 'from' in detail || 'to' in detail) {
    const [a, b] = 'from' in detail || 'to' in detail ? ['from', 'to'] : ['old', 'new'];
    rows.push({ label: `${a} → ${b}`, value: html`${plainValue(take(a))} → ${plainValue(take(b))}` });
  }
  const fleet = fleetVerdict(detail);
  take('fleet');
  take('expected');
  if (fleet) rows.push(fleet);
  if (detail.class === 'self' || detail.class === 'guarded') {
    rows.push({ label: 'class', value: html`${take('class') === 'self' ? "the agent's own file" : 'guarded binary'}` });
  }
  take('class');
  for (const [k, v] of Object.entries(detail).slice(0, 40)) {
    if (done.has(k)) continue;
    rows.push({ label: label(k), value: plainValue(v) });
  }
  return rows;
}

/** The detail as a definition list (the alarm page), after `lead` rows; a path equal to `subject` is not repeated. */
export function detailView(detail: unknown, lead: DetailRow[] = [], subject?: string): SafeHtml {
  const own = detailRows(detail).filter((r) => !(r.label === 'path' && subject !== undefined && isObj(detail) && detail.path === subject));
  const rows = [...lead, ...own];
  if (!rows.length) return html`<p>No detail.</p>`;
  return html`<dl class="detail">${rows.map((r) => html`<dt>${r.label}</dt><dd${r.strong ? html` class="strong"` : ''}>${r.value}</dd>`)}</dl>`;
}

/** The detail in one short line for tables: the first rows after the path. */
export function detailSummary(detail: unknown, max = 3): SafeHtml {
  const rows = detailRows(detail).filter((r) => r.label !== 'path');
  const strong = rows.filter((r) => r.strong);
  const shown = [...strong, ...rows.filter((r) => !r.strong)].slice(0, max);
  const more = rows.length - shown.length;
  return html`<span class="detail-summary">${shown.map((r, i) => html`${i ? '; ' : ''}${r.label}: ${r.value}`)}${more > 0 ? html` <span class="more">(+${more} more)</span>` : ''}</span>`;
}
