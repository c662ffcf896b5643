import { alarmGuide } from '../alarms/alarm-kinds.ts';
import type { AlarmRow } from '../alarms/alarm-store.ts';
import type { HostRecord } from '../liveness/host-store.ts';
import { agentText, detailView } from './alarm-detail.ts';
import type { Session } from './sessions.ts';
import { html, type SafeHtml } from './template.ts';
import { alarmState, codeSpans, hostHref, severityBadge } from './views-alarm-list.ts';
import { csrfField, layout, when } from './views-layout.ts';

/** Whether a maintenance window holds this alarm's delivery now, and until when (ms). */
export function heldUntil(a: AlarmRow, h: HostRecord | undefined, now: number): number | null {
  if (a.resolvedAt || !h?.maintenanceUntil || h.maintenanceUntil <= now || !alarmGuide(a.kind).held) return null;
  return h.maintenanceUntil;
}

const FILE_KINDS = new Set(['file-changed', 'file-added', 'file-missing']);

/** The path an accept of this alarm would name: the file's path, or a port's key. */
function acceptTarget(a: AlarmRow): string | null {
  const path = (a.detail as { path?: unknown } | null)?.path;
  if (FILE_KINDS.has(a.kind) && typeof path === 'string') return path;
  if (a.kind === 'port-opened') return a.subject;
  return null;
}

/** The accept form for one path (or the whole host), posting to the host's accept action. */
export function acceptForm(s: Session, host: string, path: string | null, label: string, back: string): SafeHtml {
  return html`<form method="post" action="${hostHref(host)}/accept" class="inline">${csrfField(s)}<input type="hidden" name="path" value="${path ?? ''}"><input type="hidden" name="back" value="${back}"><button type="submit">${label}</button></form>`;
}

/** One alarm: what it is, what changed (rendered for people), what to do, and the actions that apply. */
export function alarmPage(s: Session, a: AlarmRow, h: HostRecord | undefined, now: number, notice?: string): string {
  const g = alarmGuide(a.kind);
  const back = `/alarms/${a.id}`;
  const held = heldUntil(a, h, now);
  const target = acceptTarget(a);
  return layout(
    `Alarm ${a.id}`,
    s,
    html`<h2>Alarm ${a.id}: ${a.kind} on <a href="${hostHref(a.host)}">${a.host}</a> ${severityBadge(a.severity)}</h2>
<p class="meaning">${g.meaning}</p>
<section class="todo-box"><h3>What to do</h3><p class="todo">${codeSpans(g.todo)}.</p>
${
  a.resolvedAt
    ? html`<p>Resolved ${when(a.resolvedAt)}: nothing more is needed unless it was unexpected.</p>`
    : html`<p>State: ${alarmState(s, a, back)}${target ? acceptForm(s, a.host, target, 'Accept this change into the baseline', back) : ''}</p>
<p class="hint">The buttons do what the commands named above do; Acknowledge only marks the alarm as seen.</p>`
}
${held ? html`<p class="held">Held by the host's maintenance window: mailed when it ends (${when(held)}) unless accepted before then.</p>` : ''}
</section>
<h3>What changed</h3>
${detailView(
  a.detail,
  [
    { label: 'subject', value: html`<code>${agentText(a.subject, 1000)}</code>` },
    { label: 'opened', value: html`${when(a.openedAt)}` },
    ...(a.ackedAt ? [{ label: 'acknowledged', value: html`${when(a.ackedAt)}` }] : []),
    ...(a.resolvedAt ? [{ label: 'resolved', value: html`${when(a.resolvedAt)}` }] : []),
  ],
  a.subject,
)}`,
    { notice },
  );
}
