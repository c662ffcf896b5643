import type { TwError } from '../../shared/errors.ts';
import type { Session } from './sessions.ts';
import { html } from './template.ts';
import { codeSpans, hostHref } from './views-alarm-list.ts';
import { csrfField, layout, when } from './views-layout.ts';

/**
 * The refusal of an accept for a host whose agent could not send a fresh
 * report: the same words as the CLI (`TW_HOST_OFFLINE`, naming `--stale`),
 * and a form to take the last stored report knowingly.
 */
export function acceptRefusedPage(s: Session, host: string, path: string, back: string, err: TwError, lastStoredAt: number | null): string {
  return layout(
    `Not accepted: ${host}`,
    s,
    html`<h2>Not accepted: <a href="${hostHref(host)}">${host}</a></h2>
<p class="notice refused" role="alert">${err.message} (${err.code})</p>
<p>${codeSpans(err.todo)}</p>
<p>The last report ${host} sent was stored ${lastStoredAt === null ? 'at an unknown time' : when(lastStoredAt)}. Accepting it blesses the state of that moment, not of now: a change made since then is not in it.</p>
<form method="post" action="${hostHref(host)}/accept" class="action">${csrfField(s)}
<input type="hidden" name="path" value="${path}"><input type="hidden" name="back" value="${back}"><input type="hidden" name="stale" value="yes">
<button type="submit">Accept the last stored report of ${host}${path ? html` for <code>${path}</code>` : ''} (--stale)</button></form>
<p><a href="${back}">Back without accepting</a></p>`,
  );
}
