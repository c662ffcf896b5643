import type { CheckerDeclaration } from '../../shared/checker-messages.ts';
import { CHECKER_STANDINGS, type CheckerReportRow, runSummary, STANDING_TITLES } from '../checkers/checker-report.ts';
import type { CheckerRun, StoredEntry } from '../checkers/checker-store.ts';
import type { Session } from './sessions.ts';
import { html, type SafeHtml } from './template.ts';
import { layout, when } from './views-layout.ts';

const hostHref = (host: string) => `/hosts/${encodeURIComponent(host)}`;
const n = (v: number | null) => (v === null ? '-' : String(v));

/** A table of runs, newest first. */
function runTable(runs: readonly CheckerRun[], withHost: boolean): SafeHtml {
  if (!runs.length) return html`<p>No runs.</p>`;
  return html`<table class="checker-runs"><thead><tr>${withHost ? html`<th>Host</th>` : ''}<th>Checker</th><th>Status</th><th>Scheduled</th><th>Finished</th>
<th>Added</th><th>Removed</th><th>Changed</th><th>Reason</th></tr></thead><tbody>
${runs.map(
  (r) => html`<tr class="run-${r.status}" data-run="${r.id}">${withHost ? html`<td><a href="${hostHref(r.host)}">${r.host}</a></td>` : ''}<td>${r.checker}</td>
<td><span class="badge run-${r.status}">${r.status}</span></td><td>${when(r.scheduledAt)}</td><td>${when(r.finishedAt)}</td>
<td>${n(r.added)}</td><td>${n(r.removed)}</td><td>${n(r.changed)}</td><td>${r.reason ?? ''}</td></tr>`,
)}
</tbody></table>`;
}

/** The checker-runs page: the last day's standing of every host's checker, then the runs. */
export function checkersPage(s: Session, standing: readonly CheckerReportRow[], runs: readonly CheckerRun[]): string {
  return layout(
    'Checkers',
    s,
    html`<h2>Checkers (AIDE, Tripwire)</h2>
<p>Every host that declares a checker, over the last 24 hours: failed, missed or refused first, then critical findings.</p>
${CHECKER_STANDINGS.map((st) => {
  const part = standing.filter((r) => r.standing === st);
  return html`<section class="checkers-${st}"><h3>${STANDING_TITLES[st]} (${part.length})</h3>
${
  part.length === 0
    ? html`<p>None.</p>`
    : html`<ul>${part.map(
        (r) =>
          html`<li><a href="${hostHref(r.host)}">${r.host}</a> ${r.checker}: ${r.problem ?? (r.runs[0] ? runSummary(r.runs[0]) : 'no run')}${r.runs
            .find((x) => x.status === 'findings')
            ?.criticalPaths.slice(0, 10)
            .map((p) => html`<div class="critical-path">critical: <code>${p}</code></div>`)}</li>`,
      )}</ul>`
}</section>`;
})}
<h3>Runs (newest ${runs.length})</h3>${runTable(runs, true)}`,
  );
}

/** The host page's checker section: what the host declared, its runs, and the entries of its latest finished run. */
export function hostCheckerSection(declared: readonly CheckerDeclaration[], runs: readonly CheckerRun[], entries: readonly StoredEntry[]): SafeHtml {
  if (!declared.length && !runs.length) return html``;
  return html`<h3>Checker runs</h3>
<p>Declared: ${declared.length ? declared.map((d) => html`<code>${d.kind}</code> (${d.files.length} files) `) : 'none'}</p>
${runTable(runs, false)}
${
  entries.length
    ? html`<h4>Entries of the latest finished run</h4><table class="checker-entries"><thead><tr><th>Change</th><th>Path</th><th>Attributes</th><th></th></tr></thead><tbody>
${entries.slice(0, 200).map(
  (e) => html`<tr class="${e.critical ? 'sev-critical' : 'sev-warning'}"><td>${e.change}</td><td><code>${e.path}</code></td><td>${e.attrs.join(', ')}</td>
<td>${e.critical ? 'critical' : ''}${e.accepted ? ' accepted' : ''}</td></tr>`,
)}</tbody></table>`
    : ''
}`;
}
