import type { AlarmRow } from '../alarms/alarm-store.ts';
import type { HostRecord } from '../liveness/host-store.ts';
import type { DashHost } from './dashboard-data.ts';
import type { Session } from './sessions.ts';
import { html, type SafeHtml } from './template.ts';
import { ago, csrfField, detailList, layout, when } from './views-layout.ts';

const hostHref = (host: string) => `/hosts/${encodeURIComponent(host)}`;

function bar(levels: number[]): SafeHtml {
  return html`<span class="bar" role="img" aria-label="heartbeats in the last hour">${levels.map((l) => html`<span class="b${l}"></span>`)}</span>`;
}

function silence(h: DashHost, _now: number): string {
  if (h.status === 'missing' || h.status === 'late') {
    return h.silentFor === null ? 'never seen' : `silent ${ago(h.silentFor).replace(/ ago$/, '')}`;
  }
  return ago(h.silentFor);
}

/** One row of the hosts table (the script builds the same from JSON). */
function hostRow(h: DashHost, now: number): SafeHtml {
  return html`<tr data-host="${h.host}" class="st-${h.status}">
<td><a href="${hostHref(h.host)}">${h.host}</a></td><td>${h.group}</td>
<td class="status"><span class="badge st-${h.status}">${h.status}</span></td>
<td class="silent" data-silent="${h.silentFor ?? ''}" data-status="${h.status}">${silence(h, now)}</td>
<td class="alarms">${h.openAlarms}</td><td>${bar(h.bar)}</td></tr>`;
}

export function hostsPage(s: Session, rows: DashHost[], now: number, notice?: string): string {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return layout(
    'Hosts',
    s,
    html`<h2>Hosts</h2>
<p id="summary">${[...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'no hosts enrolled'} <span id="live" class="live">(not live)</span></p>
<table id="hosts"><thead><tr><th>Host</th><th>Group</th><th>Status</th><th>Last heartbeat</th><th>Open alarms</th><th>Last hour</th></tr></thead>
<tbody>${rows.map((r) => hostRow(r, now))}</tbody></table>`,
    { script: true, notice },
  );
}

/** An alarm table with an acknowledge button per open, unacknowledged alarm. */
export function alarmTable(s: Session, alarms: AlarmRow[], back: string): SafeHtml {
  if (alarms.length === 0) return html`<p>No alarms.</p>`;
  return html`<table class="alarms"><thead><tr><th>#</th><th>Host</th><th>Severity</th><th>Kind</th><th>Subject and detail</th><th>Opened</th><th>State</th></tr></thead><tbody>
${alarms.map(
  (a) => html`<tr class="sev-${a.severity}" data-alarm="${a.id}"><td>${a.id}</td><td><a href="${hostHref(a.host)}">${a.host}</a></td>
<td>${a.severity}</td><td>${a.kind}</td><td><span class="subject">${a.subject}</span>${detailList(a.detail)}</td><td>${when(a.openedAt)}</td>
<td class="state">${
    a.resolvedAt
      ? `resolved ${when(a.resolvedAt)}`
      : a.ackedAt
        ? `acknowledged ${when(a.ackedAt)}`
        : html`open
<form method="post" action="/alarms/${a.id}/ack" class="inline">${csrfField(s)}<input type="hidden" name="back" value="${back}"><button type="submit">Acknowledge</button></form>`
  }</td></tr>`,
)}
</tbody></table>`;
}

function factsList(facts: unknown): SafeHtml {
  if (!facts || typeof facts !== 'object') return html`<p>None reported.</p>`;
  return html`<dl class="facts">${Object.entries(facts as Record<string, unknown>)
    .slice(0, 100)
    .map(([k, v]) => html`<dt>${k}</dt><dd><code>${typeof v === 'string' ? v : JSON.stringify(v)}</code></dd>`)}</dl>`;
}

export function hostPage(s: Session, h: HostRecord, view: DashHost | undefined, alarms: AlarmRow[], now: number, notice?: string, checkers?: SafeHtml): string {
  const back = hostHref(h.host);
  const action = (path: string) => `${hostHref(h.host)}/${path}`;
  return layout(
    h.host,
    s,
    html`<h2>${h.host} <span class="badge st-${view?.status ?? h.status}">${view?.status ?? h.status}</span></h2>
<dl class="facts"><dt>Group</dt><dd>${h.group}</dd><dt>Last heartbeat</dt><dd>${h.lastSeen === null ? 'never' : `${when(h.lastSeen)} (${ago(now - h.lastSeen)})`}</dd>
<dt>Connected</dt><dd>${h.connected ? 'yes' : 'no'}</dd><dt>Interval</dt><dd>${h.intervalMs / 1000}s</dd>
<dt>Agent version</dt><dd>${h.agentVersion ?? 'unknown'}</dd><dt>Maintenance until</dt><dd>${h.maintenanceUntil && h.maintenanceUntil > now ? when(h.maintenanceUntil) : 'not in maintenance'}</dd>
<dt>Last hour</dt><dd>${view ? bar(view.bar) : ''}</dd></dl>
<h3>Alarms</h3>${alarmTable(s, alarms, back)}
${checkers ?? ''}
<h3>Actions</h3>
<form method="post" action="${action('maintenance')}" class="action">${csrfField(s)}
<label>Maintenance window <select name="for"><option value="30m">30 minutes</option><option value="1h" selected>1 hour</option><option value="4h">4 hours</option><option value="1d">1 day</option><option value="0s">end now</option></select></label>
<button type="submit">Set maintenance</button></form>
<form method="post" action="${action('accept')}" class="action">${csrfField(s)}
<label>Accept changes into the baseline, path (empty = all of this host's changes) <input name="path"></label>
<button type="submit">Accept</button></form>
<form method="post" action="${action('revoke')}" class="action">${csrfField(s)}
<label><input type="checkbox" name="confirm" value="yes" required> I mean it: refuse this host's certificate</label>
<button type="submit" class="danger">Revoke</button></form>
<h3>Facts reported by the agent (daemons, mounts, system)</h3>${factsList(h.facts)}`,
    { notice },
  );
}
