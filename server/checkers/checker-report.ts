import type { CheckerKind } from '../../shared/checker-messages.ts';
import type { Queryable } from '../storage/engine.ts';
import type { CheckerRunStatus } from './checker-store.ts';

/** Where a host's checker lands in the report: the ones needing a person first. */
export type CheckerStanding = 'problem' | 'critical' | 'findings' | 'ok';
export const CHECKER_STANDINGS: readonly CheckerStanding[] = ['problem', 'critical', 'findings', 'ok'];

/** One run as the report shows it (times in ms since the epoch). */
export interface CheckerReportRun {
  id: string;
  status: CheckerRunStatus;
  finishedAt: number | null;
  added: number | null;
  removed: number | null;
  changed: number | null;
  reason: string | null;
  /** Entries not accepted, and of them those on a critical file of the host's baseline (at most 20 named). */
  unaccepted: number;
  criticalPaths: string[];
}

/** One declared checker of one host in the report's window. */
export interface CheckerReportRow {
  host: string;
  checker: CheckerKind;
  standing: CheckerStanding;
  /** Runs whose result the server stored (or that it marked missed) in the window, newest first. */
  runs: CheckerReportRun[];
  /** Why it is a problem: a failed, missed or refused run, or no run ended in the window. */
  problem: string | null;
}

/**
 * The report's checker section for `[since, until]`: every host that declares a checker (and every host with a
 * run in the window), failed, missed or refused runs first (and checkers with no run ending in the window),
 * then critical findings, then other findings, then clean ones.
 */
export async function buildCheckerSection(db: Queryable, since: number, until: number): Promise<CheckerReportRow[]> {
  const pairs = await db.all<{ host: string; checker: CheckerKind }>(
    `SELECT c.host, c.checker FROM checker_hosts c JOIN hosts h USING (host) WHERE h.state != 'revoked'
     UNION SELECT host, checker FROM checker_runs WHERE result_at >= ? AND result_at <= ?`,
    [since, until],
  );
  const rows: CheckerReportRow[] = [];
  for (const p of pairs) {
    const found = await db.all<Omit<CheckerReportRun, 'unaccepted' | 'criticalPaths'>>(
      `SELECT id, status, finished_at AS "finishedAt", added, removed, changed, reason FROM checker_runs
       WHERE host = ? AND checker = ? AND result_at >= ? AND result_at <= ? ORDER BY result_at DESC LIMIT 50`,
      [p.host, p.checker, since, until],
    );
    const runs: CheckerReportRun[] = [];
    for (const r of found) {
      const open = await db.get<{ n: number }>('SELECT count(*) AS n FROM checker_entries WHERE run_id = ? AND accepted = 0', [r.id]);
      const critical = await db.all<{ path: string }>('SELECT path FROM checker_entries WHERE run_id = ? AND accepted = 0 AND critical = 1 ORDER BY path LIMIT 20', [r.id]);
      runs.push({ ...r, unaccepted: open?.n ?? 0, criticalPaths: critical.map((c) => c.path) });
    }
    const bad = runs.find((r) => r.status === 'failed' || r.status === 'missed' || r.status === 'refused');
    const last = runs.find((r) => r.status === 'ok' || r.status === 'findings');
    const problem = bad ? `${bad.status}${bad.reason ? `: ${bad.reason}` : ''}` : runs.length === 0 ? 'no run ended in this period' : null;
    const standing: CheckerStanding = problem
      ? 'problem'
      : last?.status === 'findings' && last.criticalPaths.length
        ? 'critical'
        : last?.status === 'findings' && last.unaccepted > 0
          ? 'findings'
          : 'ok';
    rows.push({ host: p.host, checker: p.checker, standing, runs, problem });
  }
  const rank = (s: CheckerStanding) => CHECKER_STANDINGS.indexOf(s);
  return rows.sort((a, b) => rank(a.standing) - rank(b.standing) || a.host.localeCompare(b.host) || a.checker.localeCompare(b.checker));
}

/** Headings of the section's parts, shared by the text report and the dashboard. */
export const STANDING_TITLES: Record<CheckerStanding, string> = {
  problem: 'Failed, missed or refused (or no run ended)',
  critical: 'Critical findings',
  findings: 'Other findings',
  ok: 'Clean',
};

const iso = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString());

/** What one run found, in a few words: `findings 1 added, 0 removed, 2 changed (2 not accepted)`. */
export function runSummary(r: CheckerReportRun): string {
  const counts = r.added === null ? '' : ` ${r.added} added, ${r.removed} removed, ${r.changed} changed`;
  const open = r.status === 'findings' ? ` (${r.unaccepted} not accepted)` : '';
  return `${r.status}${counts}${open} at ${iso(r.finishedAt)}`;
}

/**
 * The checker section as text lines for `report` and the daily mail; agent-supplied strings go through `safe`.
 * @param safe makes one agent-supplied string safe for a line (shared/safe-text.ts).
 */
export function checkerSectionLines(rows: readonly CheckerReportRow[], safe: (s: string) => string): string[] {
  const lines = ['', `== Checkers (${rows.length} host checker(s)) ==`];
  for (const s of CHECKER_STANDINGS) {
    const part = rows.filter((r) => r.standing === s);
    lines.push(`${STANDING_TITLES[s]} (${part.length}):`);
    if (!part.length) lines.push('  none');
    for (const r of part) {
      const last = r.runs[0];
      const what = r.problem !== null ? r.problem : last ? runSummary(last) : 'no run';
      lines.push(`  ${safe(r.host)} ${r.checker}: ${safe(what).slice(0, 300)}${r.runs.length > 1 ? ` (${r.runs.length} runs)` : ''}`);
      const crit = r.runs.find((x) => x.status === 'findings')?.criticalPaths ?? [];
      if (s === 'critical' || (s === 'problem' && crit.length)) for (const p of crit.slice(0, 10)) lines.push(`    critical: ${safe(p)}`);
    }
  }
  return lines;
}
