import { ALARM_KINDS, type AlarmKind, type Severity } from '../../shared/alarm-kinds.ts';
import type { Db } from '../storage/db.ts';
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
 * Opens, resolves and acknowledges alarms. Each opening and resolution also
 * writes an `alarm_events` row in the same statement group, so a sender can
 * deliver it exactly once. Callers wrap calls in their own transaction.
 *
 * A host that opens more new alarms than {@link FloodLimits} allow floods: its
 * further alarms (but the server's own kinds, {@link FLOOD_EXEMPT}) fold into
 * one open `alarm-flood` with counts per kind and a few subjects each, so one
 * host can neither grow the database without bound nor queue mail ahead of the
 * others. {@link settleFloods} resolves a flood once it has been quiet.
 */
export class AlarmStore {
  private readonly insert;
  private readonly insertEvent;
  private readonly findOpen;
  private readonly resolveStmt;
  private readonly findOpenSubject;
  private readonly amendStmt;
  private readonly openFloods;
  private readonly buckets = new Map<string, AlarmBucket>();
  /** The open floods by host; read from the database at the first alarm (a restart carries on counting). */
  private floods: Map<string, FloodState> | null = null;

  constructor(
    private readonly db: Db,
    private readonly limits: FloodLimits = FLOOD_LIMITS,
  ) {
    this.insert = db.prepare(`INSERT OR IGNORE INTO alarms (host, kind, severity, subject, detail, opened_at) VALUES (?, ?, ?, ?, ?, ?)`);
    this.insertEvent = db.prepare(`INSERT INTO alarm_events (alarm_id, action, at) VALUES (?, ?, ?)`);
    this.findOpen = db.prepare(`SELECT id, subject FROM alarms WHERE host = ? AND kind = ? AND resolved_at IS NULL`);
    this.resolveStmt = db.prepare(`UPDATE alarms SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL`);
    this.findOpenSubject = db.prepare(`SELECT id, severity FROM alarms WHERE host = ? AND kind = ? AND subject = ? AND resolved_at IS NULL`);
    this.amendStmt = db.prepare(`UPDATE alarms SET severity = ?, detail = ? WHERE id = ? AND resolved_at IS NULL`);
    this.openFloods = db.prepare(`SELECT id, host, severity, opened_at, detail FROM alarms WHERE kind = 'alarm-flood' AND resolved_at IS NULL`);
  }

  /** Opens an alarm unless one is already open for the same host, kind and subject; returns the new id or null. */
  open(host: string, kind: AlarmKind, subject: string, now: number, detail?: unknown, severity?: Severity): number | null {
    const sev = severity ?? ALARM_KINDS[kind];
    const limited = !FLOOD_EXEMPT.has(kind);
    if (limited) {
      const flood = this.floodsByHost().get(host);
      if (flood || !this.bucket(host, now).has(now)) {
        if (this.findOpenSubject.get(host, kind, subject)) return null; // open already: nothing new to fold
        this.fold(host, flood, kind, subject, sev, now);
        return null;
      }
    }
    const r = this.insert.run(host, kind, sev, subject, detail === undefined ? null : JSON.stringify(detail), now);
    if (r.changes === 0) return null;
    if (limited) this.bucket(host, now).take(now);
    const id = Number(r.lastInsertRowid);
    this.insertEvent.run(id, 'open', now);
    return id;
  }

  /**
   * Opens an alarm, or brings the open one of the same host, kind and subject up to date: its detail is
   * replaced, and a rise from warning to critical is written as a new `open` event, so the channels send it
   * again at the new severity. Returns the alarm's id.
   */
  raise(host: string, kind: AlarmKind, subject: string, now: number, detail: unknown, severity: Severity): number {
    const id = this.open(host, kind, subject, now, detail, severity);
    if (id !== null) return id;
    const cur = this.findOpenSubject.get(host, kind, subject) as { id: number; severity: Severity };
    const sev = cur.severity === 'critical' ? 'critical' : severity;
    this.amendStmt.run(sev, JSON.stringify(detail), cur.id);
    if (sev !== cur.severity) this.insertEvent.run(cur.id, 'open', now);
    return cur.id;
  }

  /**
   * Writes the floods' counts folded since the last call, and resolves the floods that have been quiet for
   * {@link FloodLimits.quietMs}, in one transaction; returns how many it resolved. `serve` calls it on its tick.
   */
  settleFloods(now: number): number {
    const floods = [...this.floodsByHost()];
    const quiet = floods.filter(([, f]) => now - f.lastAt >= this.limits.quietMs);
    const dirty = floods.filter(([, f]) => f.dirty);
    if (!quiet.length && !dirty.length) return 0;
    const lost: string[] = [];
    this.db
      .transaction(() => {
        for (const [host, f] of dirty) {
          if (this.amendStmt.run(f.severity, JSON.stringify(floodDetail(f, this.limits)), f.id).changes === 0) lost.push(host);
        }
        for (const [host] of quiet) this.resolve(host, 'alarm-flood', now, FLOOD_SUBJECT);
      })
      .immediate();
    for (const [, f] of dirty) f.dirty = false;
    // A flood whose row is gone (rolled back) or was resolved elsewhere: the next fold opens a new one.
    for (const host of [...lost, ...quiet.map(([h]) => h)]) this.floods?.delete(host);
    return quiet.length;
  }

  private floodsByHost(): Map<string, FloodState> {
    if (this.floods) return this.floods;
    const rows = this.openFloods.all() as { id: number; host: string; severity: Severity; opened_at: number; detail: string | null }[];
    this.floods = new Map(rows.map((r) => [r.host, floodFromRow(r)]));
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
  private fold(host: string, flood: FloodState | undefined, kind: AlarmKind, subject: string, severity: Severity, now: number): void {
    if (flood) {
      if (!foldInto(flood, kind, subject, severity, now, this.limits)) {
        flood.dirty = true;
        return;
      }
      if (this.amendStmt.run(flood.severity, JSON.stringify(floodDetail(flood, this.limits)), flood.id).changes === 1) {
        flood.dirty = false;
        this.insertEvent.run(flood.id, 'open', now);
        return;
      }
      // Its row is gone (the transaction that opened it rolled back) or resolved: a new flood begins.
      this.floods?.delete(host);
    }
    const f: FloodState = { id: 0, since: now, lastAt: now, folded: 0, severity, kinds: {}, dirty: false };
    foldInto(f, kind, subject, severity, now, this.limits);
    const r = this.insert.run(host, 'alarm-flood', severity, FLOOD_SUBJECT, JSON.stringify(floodDetail(f, this.limits)), now);
    if (r.changes === 0) return;
    f.id = Number(r.lastInsertRowid);
    this.insertEvent.run(f.id, 'open', now);
    this.floodsByHost().set(host, f);
  }

  /** Resolves the open alarms of a kind for a host (one subject, or all); returns how many. */
  resolve(host: string, kind: AlarmKind, now: number, subject?: string): number {
    let n = 0;
    for (const a of this.findOpen.all(host, kind) as { id: number; subject: string }[]) {
      if (subject !== undefined && a.subject !== subject) continue;
      if (this.resolveStmt.run(now, a.id).changes === 1) {
        this.insertEvent.run(a.id, 'resolve', now);
        n++;
      }
    }
    return n;
  }

  /** Acknowledges an alarm; returns false when no such alarm exists. */
  ack(id: number, now: number): boolean {
    return this.db.prepare(`UPDATE alarms SET acked_at = COALESCE(acked_at, ?) WHERE id = ?`).run(now, id).changes === 1;
  }

  /** Lists alarms, newest first. */
  list(filter: { open?: boolean; host?: string; limit?: number } = {}): AlarmRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.open) where.push('resolved_at IS NULL');
    if (filter.host) {
      where.push('host = ?');
      args.push(filter.host);
    }
    const sql = `SELECT * FROM alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    args.push(filter.limit ?? 10_000);
    return (this.db.prepare(sql).all(...args) as Record<string, unknown>[]).map((r) => ({
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
