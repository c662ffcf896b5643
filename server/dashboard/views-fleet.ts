import type { FleetView } from '../fleet/fleet-view.ts';
import type { ExpectedFold } from '../reports/report.ts';
import type { DashHost } from './dashboard-data.ts';
import type { Session } from './sessions.ts';
import { html, type SafeHtml } from './template.ts';
import { layout } from './views-layout.ts';

/** What the fleet page was asked for (from the query string, validated by the server). */
export interface FleetFilter {
  group?: string;
  all: boolean;
}

/** Liveness and worst open alarm per host, shown beside each host name when either needs a person. */
export type HostMarks = ReadonlyMap<string, Pick<DashHost, 'status' | 'worst'>>;

const NO_MARKS: HostMarks = new Map();

function hostLink(h: string, marks: HostMarks): SafeHtml {
  const m = marks.get(h);
  const status = m && m.status !== 'up' ? html` <span class="badge mini st-${m.status}">${m.status}</span>` : '';
  const worst = m?.worst ? html` <span class="badge mini sev-${m.worst}">${m.worst}</span>` : '';
  return html`<a href="/hosts/${encodeURIComponent(h)}">${h}</a>${status}${worst}`;
}
const short = (c: string) => (/^[0-9a-f]{64}$/.test(c) ? `${c.slice(0, 16)}…` : c);

function hostList(hosts: string[], marks: HostMarks = NO_MARKS, max = 12): SafeHtml {
  const shown = hosts.slice(0, max).map((h, i) => html`${i ? ', ' : ''}${hostLink(h, marks)}`);
  return html`${shown}${hosts.length > max ? ` … ${hosts.length - max} more` : ''}`;
}

/**
 * The fleet-wide change view: for each path, which content the hosts of each
 * group have now. A host whose content no other host of its group has is
 * marked as an outlier. Everything shown is escaped (paths and hashes come
 * from agents).
 */
export function fleetPage(s: Session, v: FleetView, f: FleetFilter, marks: HostMarks = NO_MARKS): string {
  const opt = (g: string) => html`<option value="${g}"${f.group === g ? html` selected` : ''}>${g}</option>`;
  return layout(
    'Fleet',
    s,
    html`<h2>Fleet</h2>
<form method="get" action="/fleet" class="filters">
<label>Group <select name="group"><option value="">all</option>${v.groups.map((g) => opt(g.group))}</select></label>
<label><input type="checkbox" name="all" value="1"${f.all ? html` checked` : ''}> every path, not only those that differ</label>
<button type="submit">Show</button></form>
<p>${v.groups.map((g, i) => html`${i ? '; ' : ''}group <strong>${g.group}</strong>: ${g.hosts} hosts${g.samples.length ? html`, samples ${hostList(g.samples, marks)}` : ''}`)}</p>
${
  v.paths.length === 0
    ? html`<p>No watched path differs between the hosts of a group.</p>`
    : html`<table class="fleet"><thead><tr><th>Path</th><th>Group</th><th>Hosts</th><th>Content (SHA-256)</th><th>Which hosts</th></tr></thead><tbody>
${v.paths.map((p) =>
  p.groups.map((g) =>
    g.variants.map((variant, i) => {
      const outlier = variant.hosts.length === 1 && g.outliers.includes(variant.hosts[0]!);
      return html`<tr class="${outlier ? 'outlier' : ''}">
<td>${i === 0 ? html`<code>${p.path}</code>` : ''}</td><td>${i === 0 ? g.group : ''}</td>
<td>${variant.hosts.length}/${g.hosts}</td><td><code title="${variant.content}">${short(variant.content)}</code>${variant.samples.length ? html` <span class="badge sample">sample</span>` : ''}</td>
<td>${hostList(variant.hosts, marks)}${outlier ? html` <strong class="outlier-note">outlier: matches no other host of ${g.group}</strong>` : ''}</td></tr>`;
    }),
  ),
)}
</tbody></table>`
}
${v.truncated ? html`<p>${v.truncated} more path(s) not shown; pick a group.</p>` : ''}`,
  );
}

/** The report's folded expected changes: one row per group and path. */
export function expectedFoldTable(folds: ExpectedFold[]): SafeHtml {
  if (!folds.length) return html`<p>No expected changes.</p>`;
  return html`<table class="folds"><thead><tr><th>Group</th><th>Path</th><th>Hosts</th><th>Sample</th><th>Open</th></tr></thead><tbody>
${folds.map((f) => html`<tr><td>${f.group}</td><td><code>${f.path}</code></td><td>${f.hosts.length}: ${hostList(f.hosts)}</td><td>${hostList(f.samples)}</td><td>${f.open}</td></tr>`)}
</tbody></table>`;
}
