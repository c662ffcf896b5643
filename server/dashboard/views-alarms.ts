import type { AlarmRow } from '../alarms/alarm-store.ts';
import { REPORT_SECTIONS, type Report, type ReportHost } from '../reports/report.ts';
import { criticalElsewhere, SECTION_TITLES } from '../reports/report-format.ts';
import { agentText } from './alarm-detail.ts';
import type { AlarmFilter } from './dashboard-data.ts';
import { PAGE_SIZE } from './route-params.ts';
import type { Session } from './sessions.ts';
import { html, type SafeHtml } from './template.ts';
import { alarmFilters, alarmHref, alarmTable, hostHref, pager } from './views-alarm-list.ts';
import { expectedFoldTable } from './views-fleet.ts';
import { ago, layout, when } from './views-layout.ts';

/** The alarms page: filters, a page of alarms newest first, paging links above and below. */
export function alarmsPage(s: Session, alarms: AlarmRow[], f: AlarmFilter, total: number, q: URLSearchParams, back: string, notice?: string): string {
  const page = Math.floor((f.offset ?? 0) / PAGE_SIZE) + 1;
  const p = pager('/alarms', q, page, PAGE_SIZE, total);
  return layout(
    'Alarms',
    s,
    html`<h2>Alarms</h2>
${alarmFilters('/alarms', f, { host: true })}
${p}${alarmTable(s, alarms, back)}${alarms.length > 10 ? p : ''}`,
    { notice },
  );
}

/** How many of a host's alarms the report page lists before saying how many more there are. */
const REPORT_ALARMS_SHOWN = 10;

function reportAlarms(h: ReportHost): SafeHtml {
  const own = h.alarms.filter((a) => a.expectedFrom === null);
  const more = own.length - REPORT_ALARMS_SHOWN;
  return html`${own
    .slice(0, REPORT_ALARMS_SHOWN)
    .map(
      (a) =>
        html`<div><a href="${alarmHref(a.id)}">#${a.id}</a> [${a.severity}] ${a.kind}: ${agentText(a.subject)}${a.outlier ? html` <strong class="outlier-note">outlier</strong>` : ''}${
          a.resolvedAt ? ' (resolved)' : a.ackedAt ? ' (open, acknowledged)' : ' (open)'
        }</div>`,
    )}${more > 0 ? html`<div class="more"><a href="${hostHref(h.host)}?state=all">and ${more} more</a></div>` : ''}`;
}

export function reportPage(s: Session, r: Report, sinceText: string): string {
  const heading = (sec: (typeof REPORT_SECTIONS)[number]) => {
    const n = r.sections[sec].length;
    if (sec !== 'critical') return html`${SECTION_TITLES[sec]} (${n} host${n === 1 ? '' : 's'})`;
    const elsewhere = criticalElsewhere(r);
    return html`${SECTION_TITLES[sec]} (${n} host${n === 1 ? '' : 's'}${elsewhere > 0 ? html`; ${elsewhere} more with open critical changes, listed under errors because their agent is silent or stopped` : ''})`;
  };
  return layout(
    'Report',
    s,
    html`<h2>Report: last ${sinceText}</h2>
<form method="get" action="/report" class="filters"><label>Since <select name="since">
${['1h', '24h', '7d', '30d'].map((v) => html`<option value="${v}"${v === sinceText ? html` selected` : ''}>${v}</option>`)}</select></label><button type="submit">Show</button></form>
<p>${when(r.since)} to ${when(r.until)}: ${r.totals.hosts} hosts, ${r.totals.alarmsOpened} alarms opened, <strong>${r.totals.openNow} open now, ${r.totals.openCritical} of them critical</strong>.</p>
${REPORT_SECTIONS.map(
  (sec) => html`<section class="report-${sec}"><h3>${heading(sec)}</h3>
${sec === 'expected' ? expectedFoldTable(r.groups.flatMap((g) => g.expected)) : ''}
${
  r.sections[sec].length === 0
    ? sec === 'expected'
      ? ''
      : html`<p>None.</p>`
    : html`<table><thead><tr><th>Host</th><th>Group</th><th>Status</th><th>Last heartbeat</th><th>Heartbeats</th><th>Alarms</th></tr></thead><tbody>
${r.sections[sec].map(
  (h) => html`<tr><td><a href="${hostHref(h.host)}">${h.host}</a></td><td>${h.group}</td><td>${h.status}</td>
<td>${h.lastSeen === null ? 'never' : ago(r.until - h.lastSeen)}</td><td>${h.beats}</td>
<td>${reportAlarms(h)}</td></tr>`,
)}
</tbody></table>`
}</section>`,
)}`,
  );
}
