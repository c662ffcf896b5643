import type { AlarmRow } from '../alarms/alarm-store.ts';
import type { HostRecord } from '../liveness/host-store.ts';
import { agentText } from './alarm-detail.ts';
import type { AlarmFilter, DashHost } from './dashboard-data.ts';
import { PAGE_SIZE } from './route-params.ts';
import type { Session } from './sessions.ts';
import { html, type SafeHtml } from './template.ts';
import { acceptForm } from './views-alarm.ts';
import { alarmFilters, alarmTable, hostHref, pager, severityBadge } from './views-alarm-list.ts';
import { ago, csrfField, layout, when } from './views-layout.ts';

function bar(levels: number[]): SafeHtml {
  return html`<span class="bar" role="img" aria-label="heartbeats in the last hour">${levels.map((l) => html`<span class="b${l}"></span>`)}</span>`;
}

function silence(h: DashHost): string {
  if (h.status === 'missing' || h.status === 'late') {
    return h.silentFor === null ? 'never seen' : `silent ${ago(h.silentFor).replace(/ ago$/, '')}`;
  }
  return ago(h.silentFor);
}

/** The open-alarms cell: the count and the worst severity, so a critical change is never behind a green badge. */
function alarmsCell(h: DashHost): SafeHtml {
  if (!h.openAlarms) return html`<span class="none">none</span>`;
  const label = h.worst === 'critical' ? `${h.openAlarms} open, ${h.criticalOpen} critical` : `${h.openAlarms} open`;
  return severityBadge(h.worst, label);
}

/** One row of the hosts table (the script builds the same from JSON). */
function hostRow(h: DashHost): SafeHtml {
  return html`<tr data-host="${h.host}" class="st-${h.status}${h.worst ? ` worst-${h.worst}` : ''}">
<td><a href="${hostHref(h.host)}">${h.host}</a></td><td>${h.group}</td>
<td class="status"><span class="badge st-${h.status}">${h.status}</span></td>
<td class="alarms" data-worst="${h.worst ?? ''}">${alarmsCell(h)}</td>
<td class="silent" data-silent="${h.silentFor ?? ''}" data-status="${h.status}">${silence(h)}</td><td>${bar(h.bar)}</td></tr>`;
}

/** Hosts needing a person first: those with an open critical alarm (a revoked host needs none), then by liveness. */
export function byNeed(rows: DashHost[]): DashHost[] {
  const rank = (h: DashHost) => (h.worst === 'critical' && h.status !== 'revoked' ? 0 : 1);
  return rows
    .map((h, i) => ({ h, i }))
    .sort((a, b) => rank(a.h) - rank(b.h) || a.i - b.i)
    .map((x) => x.h);
}

export function hostsPage(s: Session, rows: DashHost[], notice?: string): string {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const critical = rows.filter((r) => r.worst === 'critical').length;
  return layout(
    'Hosts',
    s,
    html`<h2>Hosts</h2>
<p id="summary">${[...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'no hosts enrolled'}${critical ? `; ${critical} with open critical alarms` : ''} <span id="live" class="live">(not live)</span></p>
<p class="legend">Status is the agent's liveness (is it reporting?); Open alarms is what it reported or what happened to it, worst severity first.</p>
<table id="hosts"><thead><tr><th>Host</th><th>Group</th><th>Status</th><th>Open alarms</th><th>Last heartbeat</th><th>Last hour</th></tr></thead>
<tbody>${byNeed(rows).map(hostRow)}</tbody></table>`,
    { script: true, notice },
  );
}

function factsList(facts: unknown): SafeHtml {
  if (!facts || typeof facts !== 'object') return html`<p>None reported.</p>`;
  return html`<dl class="facts">${Object.entries(facts as Record<string, unknown>)
    .slice(0, 100)
    .map(([k, v]) => html`<dt>${agentText(k, 100)}</dt><dd><code>${agentText(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''), 2000)}</code></dd>`)}</dl>`;
}

/** A host's page: state and actions at the top, then its alarms (filtered, paged), then the facts its agent reported. */
export function hostPage(
  s: Session,
  h: HostRecord,
  view: DashHost | undefined,
  alarms: AlarmRow[],
  f: AlarmFilter,
  total: number,
  q: URLSearchParams,
  now: number,
  notice?: string,
  checkers?: SafeHtml,
): string {
  const back = hostHref(h.host);
  const action = (path: string) => `${hostHref(h.host)}/${path}`;
  const status = view?.status ?? h.status;
  const inMaintenance = !!h.maintenanceUntil && h.maintenanceUntil > now;
  const page = Math.floor((f.offset ?? 0) / PAGE_SIZE) + 1;
  const p = pager(back, q, page, PAGE_SIZE, total);
  return layout(
    h.host,
    s,
    html`<h2>${h.host} <span class="badge st-${status}" title="liveness">${status}</span> ${
      view?.openAlarms
        ? severityBadge(view.worst, `${view.openAlarms} open alarm${view.openAlarms === 1 ? '' : 's'}${view.criticalOpen ? `, ${view.criticalOpen} critical` : ''}`)
        : severityBadge(null)
    }</h2>
<dl class="facts"><dt>Group</dt><dd>${h.group}</dd><dt>Last heartbeat</dt><dd>${h.lastSeen === null ? 'never' : `${when(h.lastSeen)} (${ago(now - h.lastSeen)})`}</dd>
<dt>Connected</dt><dd>${h.connected ? 'yes' : 'no'}</dd><dt>Agent version</dt><dd>${h.agentVersion ?? 'unknown'}</dd>
<dt>Maintenance</dt><dd>${inMaintenance ? html`until ${when(h.maintenanceUntil)}: change alarms are held until then` : 'not in maintenance'}</dd>
<dt>Last hour</dt><dd>${view ? bar(view.bar) : ''}</dd></dl>
<section class="actions"><h3>Actions</h3>
<div class="action">${acceptForm(s, h.host, null, 'Accept all current changes', back)}
<form method="post" action="${action('accept')}" class="inline">${csrfField(s)}<input type="hidden" name="back" value="${back}">
<label>or one path or port <input name="path" placeholder="/etc/crontab or tcp/0.0.0.0:22"></label> <button type="submit">Accept path</button></form>
<p class="hint">Takes the host's state, fresh from its agent, into the baseline and resolves those alarms.</p></div>
<div class="action"><form method="post" action="${action('maintenance')}" class="inline">${csrfField(s)}
<label>Maintenance <select name="for"><option value="30m">30 minutes</option><option value="1h" selected>1 hour</option><option value="4h">4 hours</option><option value="1d">1 day</option><option value="0s">end now</option></select></label>
<button type="submit">Set maintenance</button></form>
<p class="hint">No liveness alarms while it lasts; change alarms are shown but mailed only when it ends, and not at all if accepted by then.</p></div>
<div class="action"><form method="post" action="${action('revoke')}" class="inline">${csrfField(s)}
<label><input type="checkbox" name="confirm" value="yes"> I mean it</label> <button type="submit" class="danger">Revoke</button></form>
<p class="hint">Refuses this host's certificate from now on; a new enrollment needs a new token.</p></div>
</section>
<h3 id="alarms">Alarms</h3>
${alarmFilters(back, f, { host: false })}
${p}${alarmTable(s, alarms, `${back}${q.size ? `?${q}` : ''}`, { host: false })}${alarms.length > 10 ? p : ''}
${checkers ?? ''}
<h3>Facts reported by the agent (daemons, mounts, system)</h3>${factsList(h.facts)}`,
    { notice },
  );
}
