import { formatDuration } from '../shared/duration.ts';
import type { MailText } from './mail/mail-format.ts';
import { REPORT_SECTIONS, type Report, type ReportHost, type ReportSection } from './report.ts';

/** Section headings, shared by the text report and the dashboard page. */
export const SECTION_TITLES: Record<ReportSection, string> = {
  errors: 'Errors and missing hosts',
  critical: 'Critical changes',
  warnings: 'Warnings',
  quiet: 'Quiet hosts (no alarms)',
};

const iso = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString());
// eslint-disable-next-line no-control-regex
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 200);

function hostLine(h: ReportHost, until: number): string[] {
  const seen = h.lastSeen === null ? 'never seen' : `last seen ${formatDuration(Math.max(0, until - h.lastSeen))} ago`;
  const out = [`  ${h.host} (${h.group}) ${h.status}, ${seen}, ${h.beats} heartbeats`];
  for (const a of h.alarms.slice(0, 20)) {
    const state = a.resolvedAt !== null ? `resolved ${iso(a.resolvedAt)}` : a.ackedAt !== null ? 'open, acked' : 'OPEN';
    out.push(`    #${a.id} [${a.severity}] ${a.kind}: ${oneLine(a.subject)} (opened ${iso(a.openedAt)}, ${state})`);
  }
  if (h.alarms.length > 20) out.push(`    … and ${h.alarms.length - 20} more (see \`alarms --host ${h.host}\`)`);
  return out;
}

/** The report as plain text, for `report` and the daily mail. */
export function formatReportText(r: Report): string {
  const lines = [
    `Tripwarden report ${iso(r.since)} to ${iso(r.until)}`,
    `${r.totals.hosts} hosts: ${r.sections.errors.length} with errors, ${r.sections.critical.length} with critical alarms, ` +
      `${r.sections.warnings.length} with warnings, ${r.sections.quiet.length} quiet. ${r.totals.alarmsOpened} alarms opened, ${r.totals.openNow} open now.`,
  ];
  for (const s of REPORT_SECTIONS) {
    lines.push('', `${SECTION_TITLES[s]} (${r.sections[s].length}):`);
    if (r.sections[s].length === 0) lines.push('  none');
    for (const h of r.sections[s]) lines.push(...hostLine(h, r.until));
  }
  return lines.join('\n') + '\n';
}

/** The daily report mail; the subject leads with the worst section so it sorts like alarm mail. */
export function formatReportMail(r: Report): MailText {
  const worst = r.sections.errors.length || r.sections.critical.length ? 'critical' : r.sections.warnings.length ? 'warning' : 'ok';
  const day = new Date(r.until).toISOString().slice(0, 10);
  return {
    subject: `[${worst}] report ${day}: ${r.totals.hosts} hosts, ${r.sections.errors.length} errors, ${r.sections.critical.length} critical, ${r.sections.warnings.length} warnings`,
    text: formatReportText(r),
  };
}
