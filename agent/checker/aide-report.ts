import { type CheckerEntry, MAX_CHECKER_ENTRIES } from '../../shared/checker-messages.ts';

/** What a checker's report says: exact counts and the first {@link MAX_CHECKER_ENTRIES} entries. */
export interface CheckerReport {
  added: number;
  removed: number;
  changed: number;
  entries: CheckerEntry[];
  truncated: boolean;
}

const MAX_PATH = 4096;
const MAX_ATTRS = 32;

/** Collects entries up to the wire's limit; counts come from the report's summary when it has one. */
export class EntryList {
  readonly entries: CheckerEntry[] = [];
  readonly seen = { added: 0, removed: 0, changed: 0 };
  private readonly at = new Map<string, CheckerEntry>();

  add(path: string, change: CheckerEntry['change'], attrs: string[] = []): void {
    this.seen[change]++;
    if (this.entries.length >= MAX_CHECKER_ENTRIES || !path) return;
    const e: CheckerEntry = { path: path.slice(0, MAX_PATH), change, attrs: attrNames(attrs) };
    this.entries.push(e);
    if (change === 'changed') this.at.set(path, e);
  }

  /** Sets the attributes of a changed entry listed earlier (the detail section comes after the list). */
  attrs(path: string, attrs: string[]): void {
    const e = this.at.get(path);
    if (e) e.attrs = attrNames([...e.attrs, ...attrs]);
  }

  report(summary?: Partial<Record<'added' | 'removed' | 'changed', number>>): CheckerReport {
    const n = (k: 'added' | 'removed' | 'changed') => {
      const v = summary?.[k];
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= this.seen[k] ? v : this.seen[k];
    };
    const added = n('added');
    const removed = n('removed');
    const changed = n('changed');
    return { added, removed, changed, entries: this.entries, truncated: added + removed + changed > this.entries.length };
  }
}

/** Attribute names as one lower-case token each, unique, within the wire's limits. */
function attrNames(attrs: string[]): string[] {
  const out = new Set<string>();
  for (const a of attrs) {
    const t = a
      .trim()
      .toLowerCase()
      .replace(/\s+/g, '-')
      .replace(/[^a-z0-9_.+-]/g, '')
      .slice(0, 64);
    if (t) out.add(t);
    if (out.size >= MAX_ATTRS) break;
  }
  return [...out];
}

/** Reads AIDE's JSON report (`report_format=json`, AIDE 0.18+); null when the text is not one. */
export function parseAideJson(text: string): CheckerReport | null {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return null;
  }
  if (!r || typeof r !== 'object' || Array.isArray(r)) return null;
  const o = r as Record<string, unknown>;
  const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const list = new EntryList();
  for (const p of Object.keys(obj(o.added))) list.add(p, 'added');
  for (const p of Object.keys(obj(o.removed))) list.add(p, 'removed');
  const details = obj(o.details);
  for (const p of Object.keys(obj(o.changed))) list.add(p, 'changed', Object.keys(obj(details[p])));
  const n = obj(o.number_of_entries);
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  return list.report({ added: num(n.added), removed: num(n.removed), changed: num(n.changed) });
}

const SECTION = /^(Added|Removed|Changed) entries:\s*$/;
const SUMMARY = /^\s*(Added|Removed|Changed) entries:\s+(\d+)\s*$/;
const LISTED = /^\S.{0,40}?: (\/.*)$/;
const DETAIL = /^(?:File|Directory|Link|Character device|Block device|FIFO|Socket|Door|Event port|Unknown type|[A-Z][a-z ]+): (\/.*)$/;
const ATTR = /^ ([A-Za-z][A-Za-z0-9 ]*?)\s*: /;

/** Reads AIDE's plain-text report (any version): the entry lists, the changed attributes, the summary counts. */
export function parseAideText(text: string): CheckerReport {
  const list = new EntryList();
  const summary: Partial<Record<'added' | 'removed' | 'changed', number>> = {};
  let section: 'added' | 'removed' | 'changed' | 'details' | null = null;
  let current: string | null = null;
  for (const line of text.split('\n')) {
    const sum = SUMMARY.exec(line);
    if (sum) {
      summary[sum[1]!.toLowerCase() as 'added' | 'removed' | 'changed'] = Number(sum[2]);
      continue;
    }
    const sec = SECTION.exec(line);
    if (sec) {
      section = sec[1]!.toLowerCase() as 'added' | 'removed' | 'changed';
      continue;
    }
    if (/^Detailed information about changes:\s*$/.test(line)) {
      section = 'details';
      continue;
    }
    if (/^The attributes of the /.test(line)) {
      section = null;
      continue;
    }
    if (section === 'added' || section === 'removed' || section === 'changed') {
      const m = LISTED.exec(line);
      if (m) list.add(m[1]!, section);
    } else if (section === 'details') {
      const d = DETAIL.exec(line);
      if (d) {
        current = d[1]!;
        continue;
      }
      const a = ATTR.exec(line);
      if (current && a) list.attrs(current, [a[1]!]);
    }
  }
  return list.report(summary);
}
