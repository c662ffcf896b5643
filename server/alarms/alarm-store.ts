import { ALARM_KINDS, type AlarmKind, type Severity } from '../../shared/alarm-kinds.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import { textKeyIs } from '../storage/text-key.ts';
import { AlarmBucket, FLOOD_EXEMPT, FLOOD_LIMITS, FLOOD_SUBJECT, type FloodLimits, type FloodState, floodDetail, floodFromRow, foldInto } from './alarm-flood.ts';

/** An alarm row as the CLI and dashboard show it (docs/REFERENCE.md field names). */
export interface AlarmRow {
  id: number;
  host: string;
  kind: string;
  severity: Severity;
  subject: string;
  detail: unknown;
  openedAt: string;
  ackedAt: string | null;
  resolvedAt: string | null;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/**
 * Writes one event of an alarm for the channels to deliver: its opening (or a raise, or with `reminder` its
 * reminder number) or its resolution, with the host's group now, for the group channels: a host moved later
 * does not move this event.
 */
export async function insertAlarmEvent(q: Queryable, id: number, action: 'open' | 'resolve', now: number, reminder: number | null = null): Promise<void> {
  await q.run('INSERT INTO alarm_events (alarm_id, action, at, reminder, grp) VALUES (?, ?, ?, ?, (SELECT h.grp FROM alarms a JOIN hosts h ON h.host = a.host WHERE a.id = ?))', [
    id,
    action,
    now,
    reminder,
    id,
  ]);
}

/**
 * Opens, resolves and acknowledges alarms. Each opening and resolution also
 * writes an `alarm_events` row in the same statement group, so a sender can
 * deliver it exactly once. Callers inside their own transaction pass its `tx`
 * as the last argument of `open`, `raise` and `resolve`.
 *
 * A host that opens more new alarms than {@link FloodLimits} allow floods: its
 * further alarms (but the server's own kinds, {@link FLOOD_EXEMPT}) fold into
 * one open `alarm-flood` with counts per kind and a few subjects each, so one
 * host can neither grow the database without bound nor queue mail ahead of the
 * others. {@link settleFloods} resolves a flood once it has been quiet.
 */
export class AlarmStore {
  private readonly buckets = new Map<string, AlarmBucket>();
  /** The open floods by host; read from the database at the first alarm (a restart carries on counting). */
  private floods: Map<string, FloodState> | null = null;

  constructor(
    private readonly sql: SqlDb,
    private readonly limits: FloodLimits = FLOOD_LIMITS,
  ) {}

  /** Inserts an alarm unless one is open for the same host, kind and subject (the partial unique index); its id or null. */
  private async insert(q: Queryable, host: string, kind: string, sev: Severity, subject: string, detail: string | null, now: number): Promise<number | null> {
    const r = await q.get<{ id: number }>('INSERT INTO alarms (host, kind, severity, subject, detail, opened_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id', [
      host,
      kind,
      sev,
      subject,
      detail,
      now,
    ]);
    return r ? r.id : null;
  }

  /** The open alarm of this host, kind and subject; with `lock`, its row locked until the transaction ends (PostgreSQL). */
  private findOpenSubject(q: Queryable, host: string, kind: string, subject: string, lock = false): Promise<{ id: number; severity: Severity; detail: string | null } | undefined> {
    const forUpdate = lock && q.engine === 'postgres' ? ' FOR UPDATE' : '';
    return q.get(
      `SELECT id, severity, detail FROM alarms WHERE host = @host AND kind = @kind AND ${textKeyIs(q.engine, 'subject', '@subject')} AND resolved_at IS NULL${forUpdate}`,
      {
        host,
        kind,
        subject,
      },
    );
  }

  private amend(q: Queryable, severity: Severity, detail: string, id: number): Promise<number> {
    return q.run('UPDATE alarms SET severity = ?, detail = ? WHERE id = ? AND resolved_at IS NULL', [severity, detail, id]);
  }

  /** Opens an alarm unless one is already open for the same host, kind and subject; returns the new id or null. */
  async open(host: string, kind: AlarmKind, subject: string, now: number, detail?: unknown, severity?: Severity, q: Queryable = this.sql): Promise<number | null> {
    const sev = severity ?? ALARM_KINDS[kind];
    const limited = !FLOOD_EXEMPT.has(kind);
    if (limited) {
      const flood = (await this.floodsByHost(q)).get(host);
      if (flood || !this.bucket(host, now).has(now)) {
        if (await this.findOpenSubject(q, host, kind, subject)) return null; // open already: nothing new to fold
        await this.fold(q, host, flood, kind, subject, sev, now);
        return null;
      }
    }
    const id = await this.insert(q, host, kind, sev, subject, detail === undefined ? null : JSON.stringify(detail), now);
    if (id === null) return null;
    if (limited) this.bucket(host, now).take(now);
    await insertAlarmEvent(q, id, 'open', now);
    return id;
  }

  /**
   * Opens an alarm, or brings the open one of the same host, kind and subject up to date: its detail is
   * replaced (or, with `merge`, merged with the stored one), and a rise from warning to critical is written as
   * a new `open` event, so the channels send it again at the new severity. Returns the alarm's id.
   *
   * `merge` gets the open alarm's stored detail and returns what to write instead of `detail` and `severity`:
   * what several raisers (instances sharing the database) found, each adding to it. Then the read and the
   * write are one transaction (the caller's `q`, or one of its own) and the row is locked on PostgreSQL, so
   * two raises at once both count.
   */
  async raise(
    host: string,
    kind: AlarmKind,
    subject: string,
    now: number,
    detail: unknown,
    severity: Severity,
    q: Queryable = this.sql,
    merge?: (stored: unknown) => { detail: unknown; severity: Severity },
  ): Promise<number> {
    if (merge && q === this.sql) return this.sql.tx((tx) => this.raise(host, kind, subject, now, detail, severity, tx, merge));
    const id = await this.open(host, kind, subject, now, detail, severity, q);
    if (id !== null) return id;
    const cur = (await this.findOpenSubject(q, host, kind, subject, merge !== undefined)) as { id: number; severity: Severity; detail: string | null };
    const next = merge ? merge(cur.detail === null ? null : JSON.parse(cur.detail)) : { detail, severity };
    const sev = cur.severity === 'critical' ? 'critical' : next.severity;
    await this.amend(q, sev, JSON.stringify(next.detail), cur.id);
    if (sev !== cur.severity) await insertAlarmEvent(q, cur.id, 'open', now);
    return cur.id;
  }

  /**
   * Writes the floods' counts folded since the last call, and resolves the floods that have been quiet for
   * {@link FloodLimits.quietMs}, in one transaction; returns how many it resolved. `serve` calls it on its tick.
   */
  async settleFloods(now: number): Promise<number> {
    const floods = [...(await this.floodsByHost(this.sql))];
    const quiet = floods.filter(([, f]) => now - f.lastAt >= this.limits.quietMs);
    const dirty = floods.filter(([, f]) => f.dirty);
    if (!quiet.length && !dirty.length) return 0;
    const lost: string[] = [];
    await this.sql.tx(async (tx) => {
      for (const [host, f] of dirty) {
        if ((await this.amend(tx, f.severity, JSON.stringify(floodDetail(f, this.limits)), f.id)) === 0) lost.push(host);
      }
      for (const [host] of quiet) await this.resolve(host, 'alarm-flood', now, FLOOD_SUBJECT, tx);
    });
    for (const [, f] of dirty) f.dirty = false;
    // A flood whose row is gone (rolled back) or was resolved elsewhere: the next fold opens a new one.
    for (const host of [...lost, ...quiet.map(([h]) => h)]) this.floods?.delete(host);
    return quiet.length;
  }

  private async floodsByHost(q: Queryable): Promise<Map<string, FloodState>> {
    if (this.floods) return this.floods;
    const rows = await q.all<{ id: number; host: string; severity: Severity; opened_at: number; detail: string | null }>(
      `SELECT id, host, severity, opened_at, detail FROM alarms WHERE kind = 'alarm-flood' AND resolved_at IS NULL`,
    );
    // Another call may have loaded them while this one waited: keep the first map (it may hold newer counts).
    this.floods ??= new Map(rows.map((r) => [r.host, floodFromRow(r)]));
    return this.floods;
  }

  private bucket(host: string, now: number): AlarmBucket {
    let b = this.buckets.get(host);
    if (!b) this.buckets.set(host, (b = new AlarmBucket(this.limits, now)));
    return b;
  }

  /**
   * Folds one alarm into the host's flood, opening it with this alarm when there is none. The counts are
   * written at once only when the severity rises; otherwise by {@link settleFloods} on the next tick (an
   * UPDATE per folded alarm cost more than the alarm rows it saves).
   */
  private async fold(q: Queryable, host: string, flood: FloodState | undefined, kind: AlarmKind, subject: string, severity: Severity, now: number): Promise<void> {
    if (flood) {
      if (!foldInto(flood, kind, subject, severity, now, this.limits)) {
        flood.dirty = true;
        return;
      }
      if ((await this.amend(q, flood.severity, JSON.stringify(floodDetail(flood, this.limits)), flood.id)) === 1) {
        flood.dirty = false;
        await insertAlarmEvent(q, flood.id, 'open', now);
        return;
      }
      // Its row is gone (the transaction that opened it rolled back) or resolved: a new flood begins.
      this.floods?.delete(host);
    }
    const f: FloodState = { id: 0, since: now, lastAt: now, folded: 0, severity, kinds: {}, dirty: false };
    foldInto(f, kind, subject, severity, now, this.limits);
    const id = await this.insert(q, host, 'alarm-flood', severity, FLOOD_SUBJECT, JSON.stringify(floodDetail(f, this.limits)), now);
    if (id === null) return;
    f.id = id;
    await insertAlarmEvent(q, f.id, 'open', now);
    (await this.floodsByHost(q)).set(host, f);
  }

  /** Resolves the open alarms of a kind for a host (one subject, or all); returns how many. */
  async resolve(host: string, kind: AlarmKind, now: number, subject?: string, q: Queryable = this.sql): Promise<number> {
    let n = 0;
    for (const a of await q.all<{ id: number; subject: string }>('SELECT id, subject FROM alarms WHERE host = ? AND kind = ? AND resolved_at IS NULL', [host, kind])) {
      if (subject !== undefined && a.subject !== subject) continue;
      if ((await q.run('UPDATE alarms SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL', [now, a.id])) === 1) {
        await insertAlarmEvent(q, a.id, 'resolve', now);
        n++;
      }
    }
    return n;
  }

  /** Acknowledges an alarm; returns false when no such alarm exists. */
  async ack(id: number, now: number): Promise<boolean> {
    return (await this.sql.run('UPDATE alarms SET acked_at = COALESCE(acked_at, ?) WHERE id = ?', [now, id])) === 1;
  }

  /** Lists alarms, newest first. */
  async list(filter: { open?: boolean; host?: string; limit?: number } = {}): Promise<AlarmRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.open) where.push('resolved_at IS NULL');
    if (filter.host) {
      where.push('host = ?');
      args.push(filter.host);
    }
    const text = `SELECT * FROM alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    args.push(filter.limit ?? 10_000);
    return (await this.sql.all(text, args)).map((r) => ({
      id: r.id as number,
      host: r.host as string,
      kind: r.kind as string,
      severity: r.severity as Severity,
      subject: r.subject as string,
      detail: r.detail ? JSON.parse(r.detail as string) : null,
      openedAt: iso(r.opened_at as number)!,
      ackedAt: iso(r.acked_at as number | null),
      resolvedAt: iso(r.resolved_at as number | null),
    }));
  }
}
