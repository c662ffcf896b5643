import { ALARM_KINDS } from '../../shared/alarm-kinds.ts';
import type { AlarmRow } from '../alarms/alarm-store.ts';
import { agentText, detailSummary } from './alarm-detail.ts';
import type { AlarmFilter } from './dashboard-data.ts';
import type { Session } from './sessions.ts';
import { html, type SafeHtml } from './template.ts';
import { csrfField, when } from './views-layout.ts';

export const hostHref = (host: string) => `/hosts/${encodeURIComponent(host)}`;
export const alarmHref = (id: number) => `/alarms/${id}`;

/** Text with `backtick` spans as code (the guide's wording, ours, never an agent's). */
export function codeSpans(text: string): SafeHtml {
  return html`${text.split('`').map((part, i) => (i % 2 ? html`<code>${part}</code>` : part))}`;
}

/** A severity badge; `none` when there is no open alarm. */
export function severityBadge(sev: string | null, label = sev ?? 'no open alarm'): SafeHtml {
  return html`<span class="badge sev-${sev ?? 'none'}">${label}</span>`;
}

/** The state cell: resolved, acknowledged, or open with an acknowledge button. */
export function alarmState(s: Session, a: AlarmRow, back: string): SafeHtml {
  if (a.resolvedAt) return html`resolved ${when(a.resolvedAt)}`;
  if (a.ackedAt) return html`acknowledged ${when(a.ackedAt)}`;
  return html`open
<form method="post" action="/alarms/${a.id}/ack" class="inline">${csrfField(s)}<input type="hidden" name="back" value="${back}"><button type="submit">Acknowledge</button></form>`;
}

/** An alarm table: one line per alarm, its detail summarised; the number links to the alarm's page. */
export function alarmTable(s: Session, alarms: AlarmRow[], back: string, o: { host?: boolean } = {}): SafeHtml {
  if (alarms.length === 0) return html`<p class="empty">No alarms match.</p>`;
  const showHost = o.host ?? true;
  return html`<table class="alarms"><thead><tr><th>#</th>${showHost ? html`<th>Host</th>` : ''}<th>Severity</th><th>Kind</th><th>Subject</th><th>What changed</th><th>Opened</th><th>State</th></tr></thead><tbody>
${alarms.map(
  (a) => html`<tr class="sev-${a.severity}${a.resolvedAt ? ' resolved' : ''}" data-alarm="${a.id}"><td><a href="${alarmHref(a.id)}">${a.id}</a></td>${
    showHost ? html`<td class="nowrap"><a href="${hostHref(a.host)}">${a.host}</a></td>` : ''
  }
<td>${severityBadge(a.severity)}</td><td class="nowrap">${a.kind}</td><td><a class="subject" href="${alarmHref(a.id)}">${agentText(a.subject)}</a></td><td>${detailSummary(a.detail)}</td><td>${when(a.openedAt)}</td>
<td class="state">${alarmState(s, a, back)}</td></tr>`,
)}
</tbody></table>`;
}

/** The filter form: state, severity, kind (and host on the alarms page); it resets to page 1. */
export function alarmFilters(action: string, f: AlarmFilter, o: { host: boolean }): SafeHtml {
  const opt = (value: string, current: string | undefined, label = value) => html`<option value="${value}"${current === value ? html` selected` : ''}>${label}</option>`;
  return html`<form method="get" action="${action}" class="filters">
${o.host ? html`<label>Host <input name="host" value="${f.host ?? ''}"></label>` : ''}
<label>Status <select name="state">${opt('open', f.state ?? 'open', 'open')}${opt('all', f.state, 'open and resolved')}</select></label>
<label>Severity <select name="severity">${opt('', f.severity, 'any')}${opt('critical', f.severity)}${opt('warning', f.severity)}</select></label>
<label>Kind <select name="kind">${opt('', f.kind, 'any')}${Object.keys(ALARM_KINDS).map((k) => opt(k, f.kind))}</select></label>
<button type="submit">Filter</button></form>`;
}

/** "Alarms 26–50 of 140", with links to the newer and older pages (the query kept). */
export function pager(path: string, q: URLSearchParams, page: number, size: number, total: number): SafeHtml {
  const first = total === 0 ? 0 : (page - 1) * size + 1;
  const last = Math.min(total, page * size);
  const to = (p: number) => {
    const u = new URLSearchParams(q);
    u.delete('notice');
    u.set('page', String(p));
    return `${path}?${u}`;
  };
  const pages = Math.max(1, Math.ceil(total / size));
  return html`<p class="pager">Alarms ${first}–${last} of ${total}${pages > 1 ? html` (page ${page} of ${pages})` : ''}
${page > 1 ? html` <a href="${to(page - 1)}" rel="prev">← newer</a>` : ''}${page < pages ? html` <a href="${to(page + 1)}" rel="next">older →</a>` : ''}</p>`;
}
