import { type CheckerReport, EntryList } from './aide-report.ts';

const OBJECT = /^(Added|Removed|Modified) object name:\s+(\/.*?)\s*$/;
const COUNT = /^\s*(Added|Removed|Modified) Objects:\s+(\d+)\s*$/;
const PROPERTY = /^\*\s+(\S.*?)(?:\s{2,}|$)/;
const CHANGE = { Added: 'added', Removed: 'removed', Modified: 'changed' } as const;

/**
 * Reads the text `twprint --print-report --report-level 3` prints: each
 * rule's added, removed and modified objects, and for a modified one the
 * properties marked `*` (changed). Counts are the sums of each rule's
 * "… Objects: N" lines.
 */
export function parseTripwireReport(text: string): CheckerReport {
  const list = new EntryList();
  const sums = { added: 0, removed: 0, changed: 0 };
  let sawCounts = false;
  let current: string | null = null;
  for (const line of text.split('\n')) {
    const c = COUNT.exec(line);
    if (c) {
      sums[CHANGE[c[1] as keyof typeof CHANGE]] += Number(c[2]);
      sawCounts = true;
      current = null;
      continue;
    }
    const o = OBJECT.exec(line);
    if (o) {
      const change = CHANGE[o[1] as keyof typeof CHANGE];
      list.add(o[2]!, change);
      current = change === 'changed' ? o[2]! : null;
      continue;
    }
    if (/^={10,}/.test(line)) current = null;
    const p = current ? PROPERTY.exec(line) : null;
    if (p && current) list.attrs(current, [p[1]!]);
  }
  return list.report(sawCounts ? sums : undefined);
}
