import { formatDuration } from '../../shared/duration.ts';
import { safeText, shellWord } from '../../shared/safe-text.ts';
import type { MailText } from '../alarms/channels/mail-format.ts';
import { checkerSectionLines } from '../checkers/checker-report.ts';
import { type ExpectedFold, isOpenCriticalChange, REPORT_SECTIONS, type Report, type ReportHost, type ReportSection } from './report.ts';

/** Section headings, shared by the text report and the dashboard page. */
export const SECTION_TITLES: Record<ReportSection, string> = {
  errors: 'Errors and missing hosts',
  critical: 'Critical changes',
  expected: 'Expected changes (a sample host has this content; folded per path)',
  warnings: 'Warnings',
  quiet: 'Quiet hosts (no alarms)',
};

const iso = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString());
const oneLine = (s: string) => {
  const t = safeText(s);
  return t.length > 200 ? `${t.slice(0, 199)}…` : t;
};

function hostLine(h: ReportHost, until: number): string[] {
  const seen = h.lastSeen === null ? 'never seen' : `last seen ${formatDuration(Math.max(0, until - h.lastSeen))} ago`;
  const out = [`  ${safeText(h.host)} (${safeText(h.group)}) ${h.status}, ${seen}, ${h.beats} heartbeats`];
  // Expected changes are listed once per path in the group's fold, not per host.
  const own = h.alarms.filter((a) => a.expectedFrom === null);
  for (const a of own.slice(0, 20)) {
    const state = a.resolvedAt !== null ? `resolved ${iso(a.resolvedAt)}` : a.ackedAt !== null ? 'open, acked' : 'OPEN';
    const outlier = a.outlier ? `OUTLIER: no other host of ${safeText(h.group)} has this content; ` : '';
    out.push(`    #${a.id} [${a.severity}] ${safeText(a.kind)}: ${oneLine(a.subject)} (${outlier}opened ${iso(a.openedAt)}, ${state})`);
  }
  if (own.length > 20) out.push(`    … and ${own.length - 20} more (see \`alarms --host ${shellWord(h.host)}\`)`);
  if (own.length < h.alarms.length) out.push(`    ${h.alarms.length - own.length} expected change(s), folded below`);
  return out;
}

/** One line per path: how many hosts took the content of which sample. */
export function foldLine(f: ExpectedFold): string {
  const names = safeText(f.hosts.slice(0, 10).join(', ')) + (f.hosts.length > 10 ? `, … ${f.hosts.length - 10} more` : '');
  return `  ${oneLine(f.path)}: ${f.hosts.length} host(s) took the content of sample ${safeText(f.samples.join(', '))} (${safeText(f.kind)}, ${f.open} open): ${names}`;
}

/** Hosts with an open critical change that are listed under errors (their agent is silent or stopped) rather than under critical changes. */
export function criticalElsewhere(r: Report): number {
  return r.sections.errors.filter((h) => h.alarms.some(isOpenCriticalChange)).length;
}

/** The report as plain text, for `report` and the daily mail: totals, then group by group. */
export function formatReportText(r: Report): string {
  const lines = [
    `Tripwarden report ${iso(r.since)} to ${iso(r.until)}`,
    `${r.totals.hosts} hosts in ${r.groups.length} group(s): ${r.sections.errors.length} with errors, ${r.sections.critical.length} with critical alarms, ` +
      `${r.sections.expected.length} with only expected changes, ` +
      `${r.sections.warnings.length} with warnings, ${r.sections.quiet.length} quiet. ${r.totals.alarmsOpened} alarms opened, ${r.totals.openNow} open now, ` +
      `${r.totals.openCritical} of them critical${criticalElsewhere(r) > 0 ? `; ${criticalElsewhere(r)} host(s) with open critical changes are listed under errors` : ''}.`,
  ];
  for (const g of r.groups) {
    const n = REPORT_SECTIONS.reduce((k, s) => k + g.sections[s].length, 0);
    lines.push('', `== Group ${safeText(g.group)} (${n} hosts) ==`);
    for (const s of REPORT_SECTIONS) {
      const under = s === 'critical' ? g.sections.errors.filter((h) => h.alarms.some(isOpenCriticalChange)).length : 0;
      lines.push(`${SECTION_TITLES[s]} (${g.sections[s].length}${under ? `; ${under} more with open critical alarms, listed under errors` : ''}):`);
      if (s === 'expected') {
        // Folded: one line per path, whichever section its hosts landed in.
        if (!g.expected.length) lines.push('  none');
        for (const f of g.expected) lines.push(foldLine(f));
        continue;
      }
      if (g.sections[s].length === 0) lines.push('  none');
      for (const h of g.sections[s]) lines.push(...hostLine(h, r.until));
    }
  }
  if (r.checkers.length) lines.push(...checkerSectionLines(r.checkers, safeText));
  return `${lines.join('\n')}\n`;
}

/** The daily report mail; the subject leads with the worst section so it sorts like alarm mail. */
export function formatReportMail(r: Report): MailText {
  const worst = r.sections.errors.length || r.sections.critical.length ? 'critical' : r.sections.warnings.length ? 'warning' : 'ok';
  const day = new Date(r.until).toISOString().slice(0, 10);
  return {
    subject:
      `[${worst}] report ${day}: ${r.totals.hosts} hosts, ${r.sections.errors.length} errors, ${r.sections.critical.length} critical, ` +
      `${r.sections.expected.length ? `${r.sections.expected.length} expected, ` : ''}${r.sections.warnings.length} warnings`,
    text: formatReportText(r),
  };
}
