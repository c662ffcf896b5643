import { ALARM_KINDS } from '../../shared/alarm-kinds.ts';
import type { AlarmRow } from '../alarms/alarm-store.ts';
import { REPORT_SECTIONS, type Report } from '../reports/report.ts';
import { SECTION_TITLES } from '../reports/report-format.ts';
import type { AlarmFilter } from './dashboard-data.ts';
import type { Session } from './sessions.ts';
import { html } from './template.ts';
import { expectedFoldTable } from './views-fleet.ts';
import { alarmTable } from './views-hosts.ts';
import { ago, layout, when } from './views-layout.ts';

export function alarmsPage(s: Session, alarms: AlarmRow[], f: AlarmFilter, back: string, notice?: string): string {
  const opt = (value: string, current: string | undefined, label = value) => html`<option value="${value}"${current === value ? html` selected` : ''}>${label}</option>`;
  return layout(
    'Alarms',
    s,
    html`<h2>Alarms</h2>
<form method="get" action="/alarms" class="filters">
<label>Host <input name="host" value="${f.host ?? ''}"></label>
<label>Kind <select name="kind">${opt('', f.kind, 'any')}${Object.keys(ALARM_KINDS).map((k) => opt(k, f.kind))}</select></label>
<label>Severity <select name="severity">${opt('', f.severity, 'any')}${opt('critical', f.severity)}${opt('warning', f.severity)}</select></label>
<label>State <select name="state">${opt('open', f.state ?? 'open', 'open')}${opt('all', f.state, 'open and recent')}</select></label>
<button type="submit">Filter</button></form>
${alarmTable(s, alarms, back)}`,
    { notice },
  );
}

export function reportPage(s: Session, r: Report, sinceText: string): string {
  return layout(
    'Report',
    s,
    html`<h2>Report: last ${sinceText}</h2>
<form method="get" action="/report" class="filters"><label>Since <select name="since">
${['1h', '24h', '7d', '30d'].map((v) => html`<option value="${v}"${v === sinceText ? html` selected` : ''}>${v}</option>`)}</select></label><button type="submit">Show</button></form>
<p>${when(r.since)} to ${when(r.until)}: ${r.totals.hosts} hosts, ${r.totals.alarmsOpened} alarms opened, ${r.totals.openNow} open now.</p>
${REPORT_SECTIONS.map(
  (sec) => html`<section class="report-${sec}"><h3>${SECTION_TITLES[sec]} (${r.sections[sec].length})</h3>
${sec === 'expected' ? expectedFoldTable(r.groups.flatMap((g) => g.expected)) : ''}
${
  r.sections[sec].length === 0
    ? html`<p>None.</p>`
    : html`<table><thead><tr><th>Host</th><th>Group</th><th>Status</th><th>Last heartbeat</th><th>Heartbeats</th><th>Alarms</th></tr></thead><tbody>
${r.sections[sec].map(
  (h) => html`<tr><td><a href="/hosts/${encodeURIComponent(h.host)}">${h.host}</a></td><td>${h.group}</td><td>${h.status}</td>
<td>${h.lastSeen === null ? 'never' : ago(r.until - h.lastSeen)}</td><td>${h.beats}</td>
<td>${h.alarms
    .filter((a) => a.expectedFrom === null)
    .slice(0, 10)
    .map(
      (a) =>
        html`<div>#${a.id} [${a.severity}] ${a.kind}: ${a.subject}${a.outlier ? html` <strong class="outlier-note">outlier</strong>` : ''}${a.resolvedAt ? ' (resolved)' : ''}</div>`,
    )}</td></tr>`,
)}
</tbody></table>`
}</section>`,
)}`,
  );
}
