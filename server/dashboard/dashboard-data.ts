import type { HostStatus, Severity } from '../../shared/alarm-kinds.ts';
import type { AlarmRow } from '../alarms/alarm-store.ts';
import type { HostStore, HostView } from '../liveness/host-store.ts';
import type { SqlDb } from '../storage/engine.ts';

/** Heartbeat bar cell: 0 no data (not enrolled yet / too early), 1 gap, 2 fewer than expected, 3 full. */
export type BarLevel = 0 | 1 | 2 | 3;

/** A hosts-page row, as rendered on the server and pushed to the browser. */
export interface DashHost extends HostView {
  /** Since when the host has been in its status (ms since the epoch), if known. */
  statusSince: number | null;
  /** The last 60 minutes of heartbeats, oldest first. */
  bar: BarLevel[];
  /** The severity of the host's worst open alarm, or null when none is open: shown beside the liveness badge. */
  worst: Severity | null;
  /** Open critical alarms. */
  criticalOpen: number;
}

export interface AlarmFilter {
  host?: string;
  kind?: string;
  severity?: Severity;
  /** `open` (default) or `all`. */
  state?: 'open' | 'all';
  limit?: number;
  /** Rows to skip (paging), newest first. */
  offset?: number;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The dashboard's reads: hosts with their heartbeat bars, filtered alarms. */
export class DashboardData {
  /** @param flushRollup writes heartbeat counts still held in memory (HeartbeatRollup.flush) before the bar is read. */
  constructor(
    private readonly sql: SqlDb,
    private readonly hosts: HostStore,
    private readonly flushRollup: () => void | Promise<void> = () => {},
  ) {}

  /** Every host, silent and late first (HostStore's order), with the last hour of heartbeats. */
  async hostRows(now: number): Promise<DashHost[]> {
    try {
      await this.flushRollup();
    } catch {
      /* a storage error: the bar shows what is stored; the counts are kept for the next flush */
    }
    const nowMin = Math.floor(now / 60_000);
    const first = nowMin - 59;
    const beats = new Map<string, Map<number, number>>();
    // Through hosts (CROSS JOIN keeps that order) so each host's last hour is a range of the (host, minute) key;
    // `WHERE minute >= ?` alone scanned the whole rollup, a month of it being 43 million rows at 1,000 hosts.
    // PostgreSQL plans the join itself and takes no ON after CROSS JOIN; SQLite needs CROSS to keep the order.
    const join = this.sql.engine === 'sqlite' ? 'CROSS JOIN' : 'JOIN';
    const recent = await this.sql.all<{ host: string; minute: number; beats: number }>(
      `SELECT m.host, m.minute, m.beats FROM hosts h ${join} heartbeat_minutes m ON m.host = h.host AND m.minute >= ?`,
      [first],
    );
    for (const r of recent) {
      let m = beats.get(r.host);
      if (!m) beats.set(r.host, (m = new Map()));
      m.set(r.minute, r.beats);
    }
    const meta = new Map(
      (await this.sql.all<{ host: string; enrolled_at: number; status_changed_at: number | null }>('SELECT host, enrolled_at, status_changed_at FROM hosts')).map((r) => [
        r.host,
        r,
      ]),
    );
    const worst = new Map(
      (
        await this.sql.all<{ host: string; c: number }>(
          `SELECT host, SUM(CASE WHEN severity = 'critical' THEN 1 ELSE 0 END) AS c FROM alarms WHERE resolved_at IS NULL GROUP BY host`,
        )
      ).map((r) => [r.host, r.c]),
    );
    return (await this.hosts.views(now)).map((v) => {
      const m = meta.get(v.host);
      const b = beats.get(v.host);
      // A host enrolled within the hour has no data before its first heartbeat, not a gap.
      const enrolledMin = m ? Math.floor(m.enrolled_at / 60_000) : first;
      const firstBeat = b?.size ? Math.min(...b.keys()) : nowMin + 1;
      const startMin = enrolledMin >= first ? Math.max(enrolledMin, Math.min(firstBeat, nowMin)) : enrolledMin;
      const bar: BarLevel[] = [];
      for (let min = first; min <= nowMin; min++) {
        const n = b?.get(min) ?? 0;
        const span = min === nowMin ? now - min * 60_000 : 60_000;
        const expected = span / Math.max(1, v.interval);
        if (min < startMin) bar.push(0);
        else if (expected < 1) bar.push(n > 0 ? 3 : 0);
        else bar.push(n === 0 ? 1 : n < expected * 0.5 ? 2 : 3);
      }
      const crit = worst.get(v.host);
      return { ...v, statusSince: m?.status_changed_at ?? null, bar, worst: crit === undefined ? null : crit > 0 ? 'critical' : 'warning', criticalOpen: crit ?? 0 };
    });
  }

  /** Alarms newest first, filtered by host, kind, severity and state. */
  async alarms(f: AlarmFilter): Promise<AlarmRow[]> {
    const { sql, args } = this.where(f);
    args.push(f.limit ?? 500, f.offset ?? 0);
    const rows = await this.sql.all(`SELECT * FROM alarms ${sql} ORDER BY id DESC LIMIT ? OFFSET ?`, args);
    return rows.map(toAlarmRow);
  }

  /** How many alarms match the filter (for paging). */
  async countAlarms(f: AlarmFilter): Promise<number> {
    const { sql, args } = this.where(f);
    return (await this.sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM alarms ${sql}`, args))!.n;
  }

  /** One alarm, or undefined. */
  async alarm(id: number): Promise<AlarmRow | undefined> {
    const r = await this.sql.get('SELECT * FROM alarms WHERE id = ?', [id]);
    return r && toAlarmRow(r);
  }

  private where(f: AlarmFilter): { sql: string; args: unknown[] } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.state !== 'all') where.push('resolved_at IS NULL');
    if (f.host) {
      where.push('host = ?');
      args.push(f.host);
    }
    if (f.kind) {
      where.push('kind = ?');
      args.push(f.kind);
    }
    if (f.severity) {
      where.push('severity = ?');
      args.push(f.severity);
    }
    return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
  }

  /**
   * A cheap fingerprint of everything the hosts page shows that changes by
   * events rather than by time: statuses, groups, alarms opened, resolved,
   * acknowledged. The live feed pushes when it changes (CLI commands in other
   * processes included, since it reads the database).
   */
  async fingerprint(): Promise<string> {
    // The one aggregate the dialects name differently; string_agg is ordered so the same rows give the same text.
    const groups = this.sql.engine === 'sqlite' ? `group_concat(grp || ':' || status, ',')` : `string_agg(grp || ':' || status, ',' ORDER BY host)`;
    const h = (await this.sql.get(
      `SELECT COUNT(*) AS n, COALESCE(SUM(status_changed_at), 0) AS s, COALESCE(SUM(COALESCE(maintenance_until, 0)), 0) AS m, ${groups} AS g FROM hosts`,
    ))!;
    const a = (await this.sql.get('SELECT (SELECT COALESCE(MAX(id), 0) FROM alarm_events) AS e, (SELECT COUNT(acked_at) FROM alarms) AS k'))!;
    return `${h.n}|${h.s}|${h.m}|${h.g}|${a.e}|${a.k}`;
  }

  /** Records a dashboard action in the audit table. */
  async audit(user: string, action: string, host: string | null, arg: string | null, now: number): Promise<void> {
    await this.sql.run('INSERT INTO operator_actions ("user", action, host, arg, at) VALUES (?, ?, ?, ?, ?)', [user, action, host, arg, now]);
  }
}

function toAlarmRow(r: Record<string, unknown>): AlarmRow {
  return {
    id: r.id as number,
    host: r.host as string,
    kind: r.kind as string,
    severity: r.severity as Severity,
    subject: r.subject as string,
    detail: parseJson(r.detail as string | null),
    openedAt: iso(r.opened_at as number)!,
    ackedAt: iso(r.acked_at as number | null),
    resolvedAt: iso(r.resolved_at as number | null),
  };
}

function parseJson(s: string | null): unknown {
  if (s === null) return null;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

export type { HostStatus };
