import { formatDuration } from '../../shared/duration.ts';
import type { Session } from './sessions.ts';
import { html, type SafeHtml } from './template.ts';

/** Messages a redirect may show; looked up by code so no request text is reflected. */
export const NOTICES: Record<string, string> = {
  acked: 'Alarm acknowledged.',
  maintenance: 'Maintenance window set: liveness alarms are not opened, and change alarms are held (shown here, mailed when the window ends unless accepted by then).',
  'maintenance-end': 'Maintenance window ended.',
  revoked: 'Host revoked: its certificate is refused and its connection is being closed.',
  'revoke-unconfirmed': 'Not revoked: tick the box "I mean it" beside the Revoke button to confirm.',
  'bad-duration': 'That is not a duration (use e.g. 30m, 2h).',
  'not-found': 'No such host or alarm.',
};

/** Notices that say nothing was done: shown in the refusal colour. */
const REFUSALS = new Set(['revoke-unconfirmed', 'bad-duration', 'not-found']);

/**
 * A page: nav, the session's pending action result (shown once, then
 * cleared) or a notice looked up by code, body. Only our own stylesheet and
 * script load.
 */
export function layout(title: string, s: Session | null, body: SafeHtml, o: { notice?: string; script?: boolean } = {}): string {
  const flash = s?.flash;
  if (s) s.flash = undefined;
  const notice = flash
    ? html`<p class="${flash.refused ? 'notice refused' : 'notice'}" role="status">${flash.text}</p>`
    : o.notice && NOTICES[o.notice]
      ? html`<p class="${REFUSALS.has(o.notice) ? 'notice refused' : 'notice'}" role="status">${NOTICES[o.notice]}</p>`
      : '';
  const nav = s
    ? html`<nav><a href="/">Hosts</a> <a href="/alarms">Alarms</a> <a href="/report">Report</a> <a href="/fleet">Fleet</a> <a href="/checkers">Checkers</a>
<form method="post" action="/logout" class="inline">${csrfField(s)}<button type="submit">Log out ${s.user}</button></form></nav>`
    : '';
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Tripwarden</title><link rel="stylesheet" href="/static/dashboard.css">
${o.script ? html`<script src="/static/dashboard.js" defer></script>` : ''}</head>
<body><header><h1>Tripwarden</h1>${nav}</header><main>${notice}${body}</main></body></html>`.value;
}

/** The hidden CSRF field every form carries. */
export function csrfField(s: Session): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${s.csrf}">`;
}

export function loginPage(loginToken: string, error?: string): string {
  return layout(
    'Log in',
    null,
    html`<h2>Log in</h2>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/login" class="login">
<input type="hidden" name="csrf" value="${loginToken}">
<label>User <input name="user" autocomplete="username" value="admin" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button></form>`,
  );
}

/** "3m 2s" or "never". */
export function ago(ms: number | null): string {
  return ms === null ? 'never' : `${formatDuration(ms)} ago`;
}

export function when(isoOrMs: string | number | null): string {
  if (isoOrMs === null) return '';
  return new Date(isoOrMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}
