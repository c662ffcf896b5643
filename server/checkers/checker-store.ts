import { randomUUID } from 'node:crypto';
import type { CheckerDeclaration, CheckerKind } from '../../shared/checker-messages.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';

/** A run's status, as `checker-runs` shows it. */
export type CheckerRunStatus = 'scheduled' | 'running' | 'ok' | 'findings' | 'failed' | 'missed' | 'refused';
/** Statuses a run ends in. */
export const FINISHED: readonly CheckerRunStatus[] = ['ok', 'findings', 'failed', 'missed', 'refused'];

/** A run as stored (times in ms since the epoch). */
export interface CheckerRun {
  id: string;
  host: string;
  checker: CheckerKind;
  origin: 'window' | 'operator';
  windowStart: number | null;
  scheduledAt: number;
  deadlineAt: number;
  sentAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  status: CheckerRunStatus;
  exitCode: number | null;
  added: number | null;
  removed: number | null;
  changed: number | null;
  truncated: boolean;
  dbSha256: string | null;
  reason: string | null;
  /** The files that differed from what the server expected (a refused run). */
  refused: { path: string; expected: string | null; actual: string | null }[] | null;
}

/** A row of `checker-runs --json` (docs/REFERENCE.md field names; times ISO 8601). */
export interface CheckerRunRow {
  id: string;
  host: string;
  checker: CheckerKind;
  scheduledAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  status: CheckerRunStatus;
  exitCode: number | null;
  added: number | null;
  removed: number | null;
  changed: number | null;
  dbSha256: string | null;
  reason: string | null;
}

/** One path a run reported. */
export interface StoredEntry {
  path: string;
  change: 'added' | 'removed' | 'changed';
  attrs: string[];
  /** A critical (or the agent's own) file in the host's baseline. */
  critical: boolean;
  /** An operator accepted this entry against the same checker database. */
  accepted: boolean;
}

const COLUMNS = `id, host, checker, origin, window_start AS "windowStart", scheduled_at AS "scheduledAt", deadline_at AS "deadlineAt",
  sent_at AS "sentAt", started_at AS "startedAt", finished_at AS "finishedAt", status, exit_code AS "exitCode", added, removed, changed,
  truncated, db_sha256 AS "dbSha256", reason, refused`;

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

function fromRow(r: Record<string, unknown>): CheckerRun {
  return { ...(r as unknown as CheckerRun), truncated: r.truncated === 1, refused: r.refused ? (JSON.parse(r.refused as string) as CheckerRun['refused']) : null };
}

/** The public row of a run. */
export function runRow(r: CheckerRun): CheckerRunRow {
  return {
    id: r.id,
    host: r.host,
    checker: r.checker,
    scheduledAt: iso(r.scheduledAt)!,
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    status: r.status,
    exitCode: r.exitCode,
    added: r.added,
    removed: r.removed,
    changed: r.changed,
    dbSha256: r.dbSha256,
    reason: r.reason,
  };
}

/**
 * The checker runs and what each host declared: the rows the schedule, the dispatcher, the result handler,
 * the CLI and the report share. Callers wrap multi-step changes in their own transaction.
 */
export class CheckerStore {
  constructor(private readonly sql: SqlDb) {}

  /** Replaces what a host declared in its hello (none: it has no checker now); inside a transaction pass its `tx` as `q`. */
  async declare(host: string, checkers: readonly CheckerDeclaration[], now: number, q?: Queryable): Promise<void> {
    // A reconnect storm is thousands of hellos declaring what is already stored: those write nothing.
    const stored = await (q ?? this.sql).all<{ checker: string; files: string }>('SELECT checker, files FROM checker_hosts WHERE host = ? ORDER BY checker', [host]);
    const wanted = checkers.map((c) => ({ checker: c.kind, files: JSON.stringify(c.files) })).sort((a, b) => a.checker.localeCompare(b.checker));
    if (JSON.stringify(stored) === JSON.stringify(wanted)) return;
    const write = async (tx: Queryable) => {
      const kinds = checkers.map((c) => c.kind);
      for (const { checker } of await tx.all<{ checker: string }>('SELECT checker FROM checker_hosts WHERE host = ?', [host])) {
        if (!kinds.includes(checker as CheckerKind)) await tx.run('DELETE FROM checker_hosts WHERE host = ? AND checker = ?', [host, checker]);
      }
      for (const c of checkers) {
        await tx.run(
          `INSERT INTO checker_hosts (host, checker, files, declared_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (host, checker) DO UPDATE SET files = excluded.files, declared_at = excluded.declared_at`,
          [host, c.kind, JSON.stringify(c.files), now],
        );
      }
    };
    if (q) await write(q);
    else await this.sql.tx(write);
  }

  /** The checkers a host declared in its last hello. */
  async declared(host: string, q: Queryable = this.sql): Promise<CheckerDeclaration[]> {
    const rows = await q.all<{ checker: CheckerKind; files: string }>('SELECT checker, files FROM checker_hosts WHERE host = ? ORDER BY checker', [host]);
    return rows.map((r) => ({ kind: r.checker, files: JSON.parse(r.files) as string[] }));
  }

  /** Adds a run in status `scheduled`; returns its id. */
  async schedule(
    r: { host: string; checker: CheckerKind; origin: 'window' | 'operator'; windowStart: number | null; scheduledAt: number; deadlineAt: number },
    now: number,
    q: Queryable = this.sql,
  ): Promise<string> {
    const id = randomUUID();
    await q.run(`INSERT INTO checker_runs (id, host, checker, origin, window_start, scheduled_at, deadline_at, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'scheduled', ?)`, [
      id,
      r.host,
      r.checker,
      r.origin,
      r.windowStart,
      r.scheduledAt,
      r.deadlineAt,
      now,
    ]);
    return id;
  }

  /** Declared checkers of hosts that are not revoked with no run in the window starting at `windowStart`. */
  unplanned(windowStart: number, q: Queryable = this.sql): Promise<{ host: string; checker: CheckerKind }[]> {
    return q.all(
      `SELECT c.host, c.checker FROM checker_hosts c JOIN hosts h USING (host) WHERE h.state != 'revoked'
       AND NOT EXISTS (SELECT 1 FROM checker_runs r WHERE r.host = c.host AND r.checker = c.checker AND r.window_start = ?) ORDER BY c.host, c.checker`,
      [windowStart],
    );
  }

  async get(id: string, q: Queryable = this.sql): Promise<CheckerRun | undefined> {
    const r = await q.get(`SELECT ${COLUMNS} FROM checker_runs WHERE id = ?`, [id]);
    return r ? fromRow(r) : undefined;
  }

  /** Scheduled runs whose moment has come and whose deadline has not, oldest first (only what sending needs). */
  due(now: number, limit = 1000): Promise<Pick<CheckerRun, 'id' | 'host' | 'checker' | 'deadlineAt'>[]> {
    return this.sql.all(
      `SELECT id, host, checker, deadline_at AS "deadlineAt" FROM checker_runs WHERE status = 'scheduled' AND scheduled_at <= ? AND deadline_at > ? ORDER BY scheduled_at LIMIT ?`,
      [now, now, limit],
    );
  }

  /** Scheduled or running runs past their deadline. */
  async overdue(now: number): Promise<CheckerRun[]> {
    const rows = await this.sql.all(`SELECT ${COLUMNS} FROM checker_runs WHERE status IN ('scheduled', 'running') AND deadline_at <= ? ORDER BY deadline_at LIMIT 1000`, [now]);
    return rows.map(fromRow);
  }

  /** Marks a scheduled run sent; false when it was no longer scheduled (another pass, or another instance, took it). */
  async markSent(id: string, now: number): Promise<boolean> {
    return (await this.sql.run(`UPDATE checker_runs SET status = 'running', sent_at = ?, started_at = ? WHERE id = ? AND status = 'scheduled'`, [now, now, id])) === 1;
  }

  /** Marks a run missed, with why; false when it had already ended. */
  async markMissed(id: string, reason: string, now: number, q: Queryable = this.sql): Promise<boolean> {
    const n = await q.run(`UPDATE checker_runs SET status = 'missed', finished_at = ?, result_at = ?, reason = ? WHERE id = ? AND status IN ('scheduled', 'running')`, [
      now,
      now,
      reason,
      id,
    ]);
    return n === 1;
  }

  /** Runs newest first (by scheduled time), of one host or all. */
  async list(filter: { host?: string; limit?: number } = {}, q: Queryable = this.sql): Promise<CheckerRun[]> {
    const where = filter.host === undefined ? '' : 'WHERE host = ?';
    const args: unknown[] = filter.host === undefined ? [] : [filter.host];
    const rows = await q.all(`SELECT ${COLUMNS} FROM checker_runs ${where} ORDER BY scheduled_at DESC, id LIMIT ?`, [...args, filter.limit ?? 1000]);
    return rows.map(fromRow);
  }

  /**
   * The entries a run reported, by path (a table has no insertion order on PostgreSQL, and nothing reads them
   * in the agent's order).
   */
  async entries(runId: string, q: Queryable = this.sql): Promise<StoredEntry[]> {
    const rows = await q.all('SELECT path, change, attrs, critical, accepted FROM checker_entries WHERE run_id = ? ORDER BY path, change, attrs', [runId]);
    return rows.map((r) => ({
      path: r.path as string,
      change: r.change as StoredEntry['change'],
      attrs: JSON.parse(r.attrs as string) as string[],
      critical: r.critical === 1,
      accepted: r.accepted === 1,
    }));
  }

  /** A run's raw output as stored (bounded), and whether some was cut. */
  async output(runId: string): Promise<{ text: string; truncated: boolean } | undefined> {
    const r = await this.sql.get<{ output: string; t: number }>('SELECT output, output_truncated AS t FROM checker_runs WHERE id = ?', [runId]);
    return r ? { text: r.output, truncated: r.t === 1 } : undefined;
  }
}
