import type { AlarmKind, Severity } from '../../shared/alarm-kinds.ts';
import type { CheckerKind, CheckerOutputBody, CheckerResultBody } from '../../shared/checker-messages.ts';
import type { Logger } from '../../shared/log.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import type { OpenedAlarm } from '../baselines/baseline-store.ts';
import { type Db, sql } from '../storage/db.ts';
import type { CheckerRun, CheckerStore } from './checker-store.ts';

/** Most raw output kept per run, in characters; the rest is counted as cut. */
export const OUTPUT_MAX_CHARS = 1024 * 1024;

/** Every alarm kind a checker run raises; a clean run (or `accept HOST`) resolves them all. */
export const CHECKER_ALARMS: readonly AlarmKind[] = ['checker-findings', 'checker-failed', 'checker-missed', 'checker-tampered'];

/** Which alarm each ending opens (STYLE habit 6): `ok` opens none and resolves every checker alarm. */
export const RESULT_ALARMS = {
  ok: null,
  findings: 'checker-findings',
  failed: 'checker-failed',
  refused: 'checker-tampered',
  missed: 'checker-missed',
} as const satisfies Record<'ok' | 'findings' | 'failed' | 'refused' | 'missed', AlarmKind | null>;

const attrsKey = (attrs: readonly string[]) => JSON.stringify(attrs);

/**
 * What the agents' checker records do: raw output appended to its run (bounded), a result stored with its
 * entries, and the alarms that follow. Runs inside the ledger's transaction, so a record is applied exactly
 * once. A record for an unknown run, for another host's run, or for a run never sent is logged and dropped.
 */
export class CheckerResults {
  constructor(
    private readonly db: Db,
    private readonly store: CheckerStore,
    private readonly alarms: AlarmStore,
    private readonly log: Logger,
  ) {}

  /** Applies one checker record body of a host; returns the alarms it opened. */
  apply(host: string, body: CheckerOutputBody | CheckerResultBody, now: number): OpenedAlarm[] {
    try {
      // A savepoint inside the ledger's transaction: a fault here loses this record's effect, never the record
      // (which is stored and acknowledged either way, so the agent's spool keeps moving).
      return this.db.transaction(() => {
        const run = this.runFor(host, body);
        if (!run) return [];
        if (body.kind === 'checker-output') {
          this.appendOutput(run, body);
          return [];
        }
        return this.applyResult(run, body, now);
      })();
    } catch (err) {
      this.log.error({ host, runId: body.runId, record: body.kind, err: (err as Error).message }, 'checker record not applied');
      return [];
    }
  }

  /** The run a record names, if this host may write to it now. */
  private runFor(host: string, body: CheckerOutputBody | CheckerResultBody): CheckerRun | undefined {
    const run = this.store.get(body.runId);
    const drop = (why: string) => {
      this.log.warn({ host, runId: body.runId, record: body.kind, why }, 'checker record dropped');
      return undefined;
    };
    if (!run) return drop('no such run');
    if (run.host !== host) return drop(`the run belongs to another host`);
    if (run.sentAt === null) return drop(`the run was never sent (status ${run.status})`);
    // A run past its deadline was marked missed; its result, spooled while the link was down, still counts.
    if (run.status !== 'running' && run.status !== 'missed') return drop(`the run already ended (${run.status})`);
    if (body.kind === 'checker-result' && body.checker !== run.checker) return drop(`the run is of ${run.checker}, the result of ${body.checker}`);
    return run;
  }

  private appendOutput(run: CheckerRun, body: CheckerOutputBody): void {
    const have = (sql(this.db, 'SELECT length(output) AS n FROM checker_runs WHERE id = ?').get(run.id) as { n: number }).n;
    const room = Math.max(0, OUTPUT_MAX_CHARS - have);
    const text = body.text.slice(0, room);
    sql(this.db, 'UPDATE checker_runs SET output = output || ?, output_parts = output_parts + 1, output_truncated = output_truncated OR ? WHERE id = ?').run(
      text,
      text.length < body.text.length ? 1 : 0,
      run.id,
    );
  }

  private applyResult(run: CheckerRun, r: CheckerResultBody, now: number): OpenedAlarm[] {
    const late = run.status === 'missed';
    sql(
      this.db,
      `UPDATE checker_runs SET status = ?, started_at = ?, finished_at = ?, exit_code = ?, added = ?, removed = ?, changed = ?, truncated = ?,
       db_sha256 = ?, reason = ?, refused = ?, result_at = ? WHERE id = ?`,
    ).run(
      r.status,
      r.startedAt,
      r.finishedAt,
      r.exitCode,
      r.added,
      r.removed,
      r.changed,
      r.truncated ? 1 : 0,
      r.dbSha256,
      r.reason ?? (late ? 'the result came after the deadline' : null),
      r.refused ? JSON.stringify(r.refused) : null,
      now,
      run.id,
    );
    const critical = this.db.prepare(`SELECT json_extract(baseline, '$.class') FROM measured WHERE host = ? AND kind = 'file' AND key = ?`).pluck();
    const isAccepted = this.db.prepare('SELECT 1 FROM checker_accepted WHERE host = ? AND checker = ? AND db_sha256 = ? AND path = ? AND change = ? AND attrs = ?').pluck();
    const insert = sql(this.db, 'INSERT INTO checker_entries (run_id, path, change, attrs, critical, accepted) VALUES (?, ?, ?, ?, ?, ?)');
    let open = 0;
    let openCritical = 0;
    for (const e of r.entries) {
      const cls = critical.get(run.host, e.path) as string | null | undefined;
      const crit = cls === 'critical' || cls === 'self';
      const accepted = isAccepted.get(run.host, run.checker, r.dbSha256 ?? '', e.path, e.change, attrsKey(e.attrs)) !== undefined;
      insert.run(run.id, e.path, e.change, attrsKey(e.attrs), crit ? 1 : 0, accepted ? 1 : 0);
      if (!accepted) {
        open++;
        if (crit) openCritical++;
      }
    }
    const opened: OpenedAlarm[] = [];
    // Findings all accepted against this database count as clean.
    const kind = r.status === 'findings' && open === 0 && !r.truncated ? null : RESULT_ALARMS[r.status];
    if (kind === null) {
      for (const k of CHECKER_ALARMS) this.alarms.resolve(run.host, k, now, run.checker);
    } else {
      const detail: Record<string, unknown> = { runId: run.id, status: r.status, exitCode: r.exitCode, reason: r.reason ?? null };
      if (r.status === 'findings') {
        Object.assign(detail, { added: r.added, removed: r.removed, changed: r.changed, unaccepted: open, critical: openCritical, truncated: r.truncated });
        detail.paths = r.entries.slice(0, 20).map((e) => `${e.change} ${e.path}`);
      }
      if (r.status === 'refused') Object.assign(detail, { files: (r.refused ?? []).map((f) => f.path), refused: r.refused ?? [] });
      // Findings are critical when an entry not accepted is a critical file of the baseline; the rest keep their kind's severity.
      const severity = r.status === 'findings' ? (openCritical ? 'critical' : 'warning') : undefined;
      this.raise(run.host, kind, run.checker, detail, severity, now, opened);
    }
    this.log.info({ host: run.host, runId: run.id, checker: run.checker, status: r.status, late, added: r.added, removed: r.removed, changed: r.changed }, 'checker result stored');
    return opened;
  }

  /**
   * Opens an alarm, or brings the open one up to date: its detail names the newest run, and a severity that
   * changed (findings now touching a critical file) closes it and opens it again at the new severity.
   */
  raise(host: string, kind: AlarmKind, subject: string, detail: unknown, severity: Severity | undefined, now: number, opened: OpenedAlarm[]): void {
    const cur = sql(this.db, 'SELECT id, severity FROM alarms WHERE host = ? AND kind = ? AND subject = ? AND resolved_at IS NULL').get(host, kind, subject) as
      | { id: number; severity: Severity }
      | undefined;
    if (cur && (severity === undefined || cur.severity === severity)) {
      sql(this.db, 'UPDATE alarms SET detail = ? WHERE id = ?').run(JSON.stringify(detail), cur.id);
      return;
    }
    if (cur) this.alarms.resolve(host, kind, now, subject);
    const id = this.alarms.open(host, kind, subject, now, detail, severity);
    if (id !== null) opened.push({ id, kind, subject });
  }

  /**
   * `accept HOST [PATH...]` for checker findings. Tripwarden never rewrites the checker's database: it records
   * the entries of each checker's latest finished run (those under PATH, or all) as accepted against that run's
   * database hash, so the same entries no longer alarm until the host's admin updates the database. Without
   * paths every checker alarm of the host resolves; with paths, `checker-findings` resolves once nothing of the
   * latest run is left unaccepted. Returns how many entries it recorded, the alarms it resolved, and the
   * paths given that named at least one entry.
   */
  accept(host: string, paths: readonly string[] | null, now: number): { entries: number; resolved: number; matched: string[] } {
    return this.db
      .transaction(() => {
        let entries = 0;
        let resolved = 0;
        const matched = new Set<string>();
        const hits = (p: string) => {
          if (paths === null) return true;
          const by = paths.filter((q) => q === p || p.startsWith(q === '/' ? '/' : `${q.replace(/\/+$/, '')}/`));
          for (const q of by) matched.add(q);
          return by.length > 0;
        };
        const kinds = this.db.prepare('SELECT DISTINCT checker FROM checker_runs WHERE host = ?').pluck().all(host) as CheckerKind[];
        for (const checker of kinds) {
          const last = sql(
            this.db,
            `SELECT id, db_sha256 AS db, truncated FROM checker_runs WHERE host = ? AND checker = ? AND status = 'findings' ORDER BY result_at DESC LIMIT 1`,
          ).get(host, checker) as { id: string; db: string | null; truncated: number } | undefined;
          // Entries beyond the result's limit were never seen, so naming paths cannot have accepted them.
          let left = last?.truncated ? 1 : 0;
          if (last) {
            for (const e of this.store.entries(last.id)) {
              if (e.accepted) continue;
              if (!hits(e.path)) {
                left++;
                continue;
              }
              sql(this.db, 'INSERT OR IGNORE INTO checker_accepted (host, checker, db_sha256, path, change, attrs, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
                host,
                checker,
                last.db ?? '',
                e.path,
                e.change,
                attrsKey(e.attrs),
                now,
              );
              sql(this.db, 'UPDATE checker_entries SET accepted = 1 WHERE run_id = ? AND path = ? AND change = ? AND attrs = ?').run(last.id, e.path, e.change, attrsKey(e.attrs));
              entries++;
            }
          }
          if (paths === null) for (const kind of CHECKER_ALARMS) resolved += this.alarms.resolve(host, kind, now, checker);
          else if (left === 0) resolved += this.alarms.resolve(host, 'checker-findings', now, checker);
        }
        return { entries, resolved, matched: [...matched] };
      })
      .immediate();
  }
}
