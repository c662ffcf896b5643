import type { AlarmKind, Severity } from '../../shared/alarm-kinds.ts';
import type { CheckerKind, CheckerOutputBody, CheckerResultBody } from '../../shared/checker-messages.ts';
import type { Logger } from '../../shared/log.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import type { OpenedAlarm } from '../baselines/baseline-store.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import { textKeyIs } from '../storage/text-key.ts';
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
    private readonly sql: SqlDb,
    private readonly store: CheckerStore,
    private readonly alarms: AlarmStore,
    private readonly log: Logger,
  ) {}

  /**
   * Applies one checker record body of a host; returns the alarms it opened. Inside the ledger's transaction
   * pass its `q`: the record's effect then runs under a savepoint of it.
   */
  async apply(host: string, body: CheckerOutputBody | CheckerResultBody, now: number, q: Queryable = this.sql): Promise<OpenedAlarm[]> {
    const work = async (tx: Queryable): Promise<OpenedAlarm[]> => {
      const run = await this.runFor(host, body, tx);
      if (!run) return [];
      if (body.kind === 'checker-output') {
        await this.appendOutput(run, body, tx);
        return [];
      }
      return this.applyResult(run, body, now, tx);
    };
    try {
      if (q === this.sql) return await this.sql.tx(work);
      // A savepoint inside the ledger's transaction: a fault here loses this record's effect, never the record
      // (which is stored and acknowledged either way, so the agent's spool keeps moving). On PostgreSQL it also
      // keeps the ledger's transaction usable after a failed statement.
      await q.run('SAVEPOINT checker_apply');
      try {
        const opened = await work(q);
        await q.run('RELEASE SAVEPOINT checker_apply');
        return opened;
      } catch (err) {
        await q.run('ROLLBACK TO SAVEPOINT checker_apply');
        await q.run('RELEASE SAVEPOINT checker_apply');
        throw err;
      }
    } catch (err) {
      this.log.error({ host, runId: body.runId, record: body.kind, err: (err as Error).message }, 'checker record not applied');
      return [];
    }
  }

  /** The run a record names, if this host may write to it now. */
  private async runFor(host: string, body: CheckerOutputBody | CheckerResultBody, q: Queryable): Promise<CheckerRun | undefined> {
    const run = await this.store.get(body.runId, q);
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

  private async appendOutput(run: CheckerRun, body: CheckerOutputBody, q: Queryable): Promise<void> {
    const have = (await q.get<{ n: number }>('SELECT length(output) AS n FROM checker_runs WHERE id = ?', [run.id]))!.n;
    const room = Math.max(0, OUTPUT_MAX_CHARS - have);
    const text = body.text.slice(0, room);
    await q.run('UPDATE checker_runs SET output = output || ?, output_parts = output_parts + 1, output_truncated = CASE WHEN ? = 1 THEN 1 ELSE output_truncated END WHERE id = ?', [
      text,
      text.length < body.text.length ? 1 : 0,
      run.id,
    ]);
  }

  private async applyResult(run: CheckerRun, r: CheckerResultBody, now: number, q: Queryable): Promise<OpenedAlarm[]> {
    const late = run.status === 'missed';
    await q.run(
      `UPDATE checker_runs SET status = ?, started_at = ?, finished_at = ?, exit_code = ?, added = ?, removed = ?, changed = ?, truncated = ?,
       db_sha256 = ?, reason = ?, refused = ?, result_at = ? WHERE id = ?`,
      [
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
      ],
    );
    let open = 0;
    let openCritical = 0;
    for (const e of r.entries) {
      const cls = await baselineField(q, run.host, e.path, 'class');
      const crit = cls === 'critical' || cls === 'self';
      const accepted =
        (await q.get(
          `SELECT 1 AS x FROM checker_accepted WHERE host = @host AND checker = @checker AND db_sha256 = @db AND ${textKeyIs(q.engine, 'path', '@path')} AND change = @change AND attrs = @attrs`,
          { host: run.host, checker: run.checker, db: r.dbSha256 ?? '', path: e.path, change: e.change, attrs: attrsKey(e.attrs) },
        )) !== undefined;
      await q.run('INSERT INTO checker_entries (run_id, path, change, attrs, critical, accepted) VALUES (?, ?, ?, ?, ?, ?)', [
        run.id,
        e.path,
        e.change,
        attrsKey(e.attrs),
        crit ? 1 : 0,
        accepted ? 1 : 0,
      ]);
      if (!accepted) {
        open++;
        if (crit) openCritical++;
      }
    }
    const opened: OpenedAlarm[] = [];
    // Findings all accepted against this database count as clean.
    const kind = r.status === 'findings' && open === 0 && !r.truncated ? null : RESULT_ALARMS[r.status];
    if (kind === null) {
      for (const k of CHECKER_ALARMS) await this.alarms.resolve(run.host, k, now, run.checker, q);
    } else {
      const detail: Record<string, unknown> = { runId: run.id, status: r.status, exitCode: r.exitCode, reason: r.reason ?? null };
      if (r.status === 'findings') {
        Object.assign(detail, { added: r.added, removed: r.removed, changed: r.changed, unaccepted: open, critical: openCritical, truncated: r.truncated });
        detail.paths = r.entries.slice(0, 20).map((e) => `${e.change} ${e.path}`);
      }
      if (r.status === 'refused') Object.assign(detail, { files: (r.refused ?? []).map((f) => f.path), refused: r.refused ?? [] });
      // Findings are critical when an entry not accepted is a critical file of the baseline; the rest keep their kind's severity.
      const severity = r.status === 'findings' ? (openCritical ? 'critical' : 'warning') : undefined;
      await this.raise(run.host, kind, run.checker, detail, severity, now, opened, q);
    }
    this.log.info({ host: run.host, runId: run.id, checker: run.checker, status: r.status, late, added: r.added, removed: r.removed, changed: r.changed }, 'checker result stored');
    return opened;
  }

  /**
   * Opens an alarm, or brings the open one up to date: its detail names the newest run, and a severity that
   * changed (findings now touching a critical file) closes it and opens it again at the new severity.
   */
  async raise(
    host: string,
    kind: AlarmKind,
    subject: string,
    detail: unknown,
    severity: Severity | undefined,
    now: number,
    opened: OpenedAlarm[],
    q: Queryable = this.sql,
  ): Promise<void> {
    const cur = await q.get<{ id: number; severity: Severity }>('SELECT id, severity FROM alarms WHERE host = ? AND kind = ? AND subject = ? AND resolved_at IS NULL', [
      host,
      kind,
      subject,
    ]);
    if (cur && (severity === undefined || cur.severity === severity)) {
      await q.run('UPDATE alarms SET detail = ? WHERE id = ?', [JSON.stringify(detail), cur.id]);
      return;
    }
    if (cur) await this.alarms.resolve(host, kind, now, subject, q);
    const id = await this.alarms.open(host, kind, subject, now, detail, severity, q);
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
  accept(host: string, paths: readonly string[] | null, now: number): Promise<{ entries: number; resolved: number; matched: string[] }> {
    return this.sql.tx(async (tx) => {
      let entries = 0;
      let resolved = 0;
      const matched = new Set<string>();
      const hits = (p: string) => {
        if (paths === null) return true;
        const by = paths.filter((q) => q === p || p.startsWith(q === '/' ? '/' : `${q.replace(/\/+$/, '')}/`));
        for (const q of by) matched.add(q);
        return by.length > 0;
      };
      const kinds = (await tx.all<{ checker: CheckerKind }>('SELECT DISTINCT checker FROM checker_runs WHERE host = ? ORDER BY checker', [host])).map((r) => r.checker);
      for (const checker of kinds) {
        const last = await tx.get<{ id: string; db: string | null; truncated: number }>(
          `SELECT id, db_sha256 AS db, truncated FROM checker_runs WHERE host = ? AND checker = ? AND status = 'findings' ORDER BY result_at DESC LIMIT 1`,
          [host, checker],
        );
        // Entries beyond the result's limit were never seen, so naming paths cannot have accepted them.
        let left = last?.truncated ? 1 : 0;
        if (last) {
          for (const e of await this.store.entries(last.id, tx)) {
            if (e.accepted) continue;
            if (!hits(e.path)) {
              left++;
              continue;
            }
            await tx.run('INSERT INTO checker_accepted (host, checker, db_sha256, path, change, attrs, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING', [
              host,
              checker,
              last.db ?? '',
              e.path,
              e.change,
              attrsKey(e.attrs),
              now,
            ]);
            await tx.run('UPDATE checker_entries SET accepted = 1 WHERE run_id = ? AND path = ? AND change = ? AND attrs = ?', [last.id, e.path, e.change, attrsKey(e.attrs)]);
            entries++;
          }
        }
        if (paths === null) for (const kind of CHECKER_ALARMS) resolved += await this.alarms.resolve(host, kind, now, checker, tx);
        else if (left === 0) resolved += await this.alarms.resolve(host, 'checker-findings', now, checker, tx);
      }
      return { entries, resolved, matched: [...matched] };
    });
  }
}

/**
 * One string field of a file's baseline (the JSON in `measured.baseline`), read in JS: SQLite's json_extract
 * has no like on PostgreSQL, and the document is small.
 */
export async function baselineField(q: Queryable, host: string, path: string, field: 'class' | 'sha256'): Promise<string | null> {
  const row = await q.get<{ baseline: string | null }>(`SELECT baseline FROM measured WHERE host = @host AND kind = 'file' AND ${textKeyIs(q.engine, 'key', '@path')}`, {
    host,
    path,
  });
  if (!row?.baseline) return null;
  try {
    const v = (JSON.parse(row.baseline) as Record<string, unknown>)[field];
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}
