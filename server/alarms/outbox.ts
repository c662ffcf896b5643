import type { Severity } from '../../shared/alarm-kinds.ts';
import type { SqlDb } from '../storage/engine.ts';
import { HELD_KINDS } from './alarm-kinds.ts';
import type { AlarmNotice } from './channels/channel.ts';

/** A delivery row that is due. */
export interface DueDelivery {
  eventId: number;
  attempts: number;
}

/** The delivery `d`'s alarm is on a host in maintenance at `now` (`a` is the alarm, for further conditions). */
const IN_MAINTENANCE = `SELECT 1 FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id JOIN hosts h ON h.host = a.host
  WHERE e.id = d.event_id AND h.maintenance_until > @now`;

/** How far below the cursor a PostgreSQL pass looks for events that committed late (ids, not time). */
const LATE_COMMIT_IDS = 10_000;

/**
 * The durable outbox of one channel over `alarm_events` (written in the same
 * transaction that opens or resolves an alarm) and `deliveries` (this
 * channel's progress). Every method is one short transaction, so a crash at
 * any point leaves each event pending, claimed (reclaimed after
 * `claimTimeoutMs`) or done, never lost. Several instances may run a worker on
 * the same outbox: each delivery is claimed by one of them.
 */
/** How an outbox treats stale claims and a channel's first history, in ms. */
export interface OutboxOptions {
  /** A claim older than this is taken to belong to a sender that died mid-send (default 5 min). */
  claimTimeoutMs?: number;
  /** A channel seen for the first time starts with this much history (default a day). */
  backlogMs?: number;
  /** This instance's name, recorded on its claims (released at its next start if it dies holding them). */
  instance?: string;
  /**
   * Only the events of alarms on hosts in this group (a group's own recipients). The host's group when the
   * event was written decides; alarms of no group (the server's own, such as `server-instance-down`) never match.
   */
  group?: string;
}

export class Outbox {
  private readonly o: Required<Omit<OutboxOptions, 'group'>>;
  /** The group whose hosts' alarms this outbox carries; undefined: every alarm. */
  readonly group?: string;
  /** The condition that keeps a group channel's events to its group's (empty for the others). */
  private readonly inGroup: string;

  constructor(
    private readonly sql: SqlDb,
    readonly channel: string,
    o: OutboxOptions = {},
  ) {
    this.o = { claimTimeoutMs: o.claimTimeoutMs ?? 300_000, backlogMs: o.backlogMs ?? 86_400_000, instance: o.instance ?? '' };
    this.group = o.group;
    this.inGroup = o.group === undefined ? '' : 'AND e.grp = @group';
  }

  /**
   * Takes new `alarm_events` into this channel's deliveries. A channel seen
   * for the first time starts with the events of the last `backlogMs`, so
   * configuring SMTP later does not mail a year of history. Then holds the
   * new change alarms of hosts in maintenance (their kinds are `held` in
   * alarm-kinds.ts), and drops held pairs whose alarm opened and resolved
   * inside the window: an accepted planned change is never mailed, one still
   * open when the window ends is.
   */
  async enlist(now: number): Promise<number> {
    return this.sql.tx(async (tx) => {
      const c = await tx.get<{ id: number }>('SELECT last_event_id AS id FROM channel_cursors WHERE channel = ?', [this.channel]);
      const from =
        c?.id ??
        (await tx.get<{ id: number }>('SELECT COALESCE(MIN(id) - 1, (SELECT COALESCE(MAX(id), 0) FROM alarm_events)) AS id FROM alarm_events WHERE at >= ?', [
          now - this.o.backlogMs,
        ]))!.id;
      const g = this.inGroup;
      let n = await tx.run(
        `INSERT INTO deliveries (channel, event_id, next_attempt_at) SELECT CAST(@channel AS TEXT), e.id, e.at FROM alarm_events e
         WHERE e.id > @from ${g} ORDER BY e.id ON CONFLICT DO NOTHING`,
        { channel: this.channel, from, ...this.groupArg() },
      );
      if (tx.engine === 'postgres' && c) {
        // PostgreSQL hands out ids when a transaction inserts, not when it commits: an event of a transaction
        // still open can commit below the cursor after a pass moved past it. The recent ids under the cursor
        // that this channel lacks are taken too (SQLite commits one writer at a time, in id order).
        n += await tx.run(
          `INSERT INTO deliveries (channel, event_id, next_attempt_at)
           SELECT CAST(@channel AS TEXT), e.id, e.at FROM alarm_events e
           WHERE e.id <= @from AND e.id > @from - ${LATE_COMMIT_IDS} AND e.at >= @recent ${g}
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.channel = @channel AND d.event_id = e.id)
           ORDER BY e.id ON CONFLICT DO NOTHING`,
          { channel: this.channel, from, recent: now - this.o.claimTimeoutMs, ...this.groupArg() },
        );
      }
      const max = (await tx.get<{ id: number }>('SELECT COALESCE(MAX(id), 0) AS id FROM alarm_events'))!.id;
      // Never backwards: another instance's pass may have moved the cursor further meanwhile.
      await tx.run(
        `INSERT INTO channel_cursors (channel, last_event_id) VALUES (?, ?) ON CONFLICT (channel) DO UPDATE
         SET last_event_id = CASE WHEN excluded.last_event_id > channel_cursors.last_event_id THEN excluded.last_event_id ELSE channel_cursors.last_event_id END`,
        [this.channel, Math.max(from, max)],
      );
      await tx.run(
        `UPDATE deliveries AS d SET held = 1
         WHERE channel = @channel AND state = 'pending' AND held = 0 AND attempts = 0 AND EXISTS (${IN_MAINTENANCE} AND a.kind IN (${HELD_KINDS.map((k) => `'${k}'`).join(', ')}))`,
        { channel: this.channel, now },
      );
      await tx.run(
        `WITH pairs AS (
           SELECT e.alarm_id FROM deliveries p JOIN alarm_events e ON e.id = p.event_id
           WHERE p.channel = @channel AND p.state = 'pending' AND p.held = 1
           GROUP BY e.alarm_id
           HAVING SUM(CASE WHEN e.action = 'open' AND e.reminder IS NULL THEN 1 ELSE 0 END) > 0 AND SUM(CASE WHEN e.action = 'resolve' THEN 1 ELSE 0 END) > 0)
         UPDATE deliveries SET state = 'dropped', last_error = 'opened and resolved inside a maintenance window'
         WHERE channel = @channel AND state = 'pending' AND held = 1
           AND event_id IN (SELECT e.id FROM alarm_events e JOIN pairs USING (alarm_id))`,
        { channel: this.channel },
      );
      // A reminder not yet sent whose alarm was acknowledged or resolved meanwhile has nothing left to remind of.
      await tx.run(
        `UPDATE deliveries SET state = 'dropped', last_error = 'alarm acknowledged or resolved before its reminder went out'
         WHERE channel = @channel AND state = 'pending' AND claimed_at IS NULL AND event_id IN (
           SELECT e.id FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id
           WHERE e.reminder IS NOT NULL AND (a.acked_at IS NOT NULL OR a.resolved_at IS NOT NULL))`,
        { channel: this.channel },
      );
      return n;
    });
  }

  private groupArg(): { group?: string } {
    return this.group === undefined ? {} : { group: this.group };
  }

  /**
   * Pending deliveries that are due now, not held by a live claim nor by a maintenance window still open: each
   * host's first (its critical ones first, then the oldest) before any host's second, and so on.
   */
  due(now: number, limit: number): Promise<DueDelivery[]> {
    // Fair across hosts, critical first: each host's due events are ranked (critical, then oldest), and the
    // batch takes every host's first before any host's second, so a host with thousands queued holds no
    // other host's mail behind them.
    return this.sql.all<DueDelivery>(
      `SELECT "eventId", attempts FROM (
         SELECT d.event_id AS "eventId", d.attempts, CASE WHEN a.severity = 'critical' THEN 1 ELSE 0 END AS crit,
                ROW_NUMBER() OVER (PARTITION BY a.host ORDER BY CASE WHEN a.severity = 'critical' THEN 1 ELSE 0 END DESC, d.event_id) AS rank
         FROM deliveries d LEFT JOIN alarm_events e ON e.id = d.event_id LEFT JOIN alarms a ON a.id = e.alarm_id
         WHERE d.channel = @channel AND d.state = 'pending' AND d.next_attempt_at <= @now AND (d.claimed_at IS NULL OR d.claimed_at < @stale)
           AND NOT (d.held = 1 AND EXISTS (${IN_MAINTENANCE}))
       ) AS due ORDER BY rank, crit DESC, "eventId" LIMIT @limit`,
      { channel: this.channel, now, stale: now - this.o.claimTimeoutMs, limit },
    );
  }

  /**
   * Claims deliveries (those still pending and not claimed by a live sender); returns the ids this caller now
   * owns. On PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED`, so of several instances claiming the same
   * rows at once each row goes to one, and none waits on another's claim; on SQLite (one writer at a time) a
   * conditional UPDATE per row decides.
   */
  async claim(eventIds: number[], now: number): Promise<number[]> {
    if (eventIds.length === 0) return [];
    const stale = now - this.o.claimTimeoutMs;
    if (this.sql.engine === 'postgres') {
      const rows = await this.sql.tx((tx) =>
        tx.all<{ id: number }>(
          `UPDATE deliveries SET claimed_at = ?, claimed_by = ?, attempts = attempts + 1
           WHERE channel = ? AND event_id IN (
             SELECT event_id FROM deliveries
             WHERE channel = ? AND event_id IN (${eventIds.map(() => '?').join(', ')}) AND state = 'pending' AND (claimed_at IS NULL OR claimed_at < ?)
             FOR UPDATE SKIP LOCKED)
           RETURNING event_id AS id`,
          [now, this.o.instance, this.channel, this.channel, ...eventIds, stale],
        ),
      );
      const won = new Set(rows.map((r) => r.id));
      return eventIds.filter((id) => won.has(id));
    }
    return this.sql.tx(async (tx) => {
      const won: number[] = [];
      for (const id of eventIds) {
        const n = await tx.run(
          `UPDATE deliveries SET claimed_at = ?, claimed_by = ?, attempts = attempts + 1
           WHERE channel = ? AND event_id = ? AND state = 'pending' AND (claimed_at IS NULL OR claimed_at < ?)`,
          [now, this.o.instance, this.channel, id, stale],
        );
        if (n === 1) won.push(id);
      }
      return won;
    });
  }

  /**
   * Releases the claims a previous process of this instance held when it died (called at start, once the lease
   * says no twin of it runs): their mail goes at the next pass, not after the claim timeout.
   */
  async releaseOwnClaims(): Promise<number> {
    if (!this.o.instance) return 0;
    return this.sql.run(`UPDATE deliveries SET claimed_at = NULL, claimed_by = NULL WHERE channel = ? AND claimed_by = ? AND state = 'pending'`, [this.channel, this.o.instance]);
  }

  async markSent(eventIds: number[], now: number, messageId: string, digest: boolean): Promise<void> {
    await this.sql.tx(async (tx) => {
      for (const id of eventIds) {
        await tx.run(
          `UPDATE deliveries SET state = 'sent', sent_at = ?, message_id = ?, digest = ?, claimed_at = NULL, last_error = NULL
           WHERE channel = ? AND event_id = ? AND state = 'pending'`,
          [now, messageId, digest ? 1 : 0, this.channel, id],
        );
      }
    });
  }

  async markRetry(eventIds: number[], nextAt: number, error: string): Promise<void> {
    await this.sql.tx(async (tx) => {
      for (const id of eventIds) {
        await tx.run(`UPDATE deliveries SET next_attempt_at = ?, claimed_at = NULL, last_error = ? WHERE channel = ? AND event_id = ? AND state = 'pending'`, [
          nextAt,
          error.slice(0, 500),
          this.channel,
          id,
        ]);
      }
    });
  }

  async markFailed(eventIds: number[], error: string): Promise<void> {
    await this.sql.tx(async (tx) => {
      for (const id of eventIds) {
        await tx.run(`UPDATE deliveries SET state = 'failed', claimed_at = NULL, last_error = ? WHERE channel = ? AND event_id = ? AND state = 'pending'`, [
          error.slice(0, 500),
          this.channel,
          id,
        ]);
      }
    });
  }

  /** Pending deliveries (the outbox depth). */
  async depth(): Promise<number> {
    return (await this.sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM deliveries WHERE channel = ? AND state = 'pending'`, [this.channel]))!.n;
  }

  /** Deliveries given up on after a permanent error. */
  async failedCount(): Promise<number> {
    return (await this.sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM deliveries WHERE channel = ? AND state = 'failed'`, [this.channel]))!.n;
  }

  /** Messages (a digest counts once) sent after `t`. */
  async messagesSince(t: number): Promise<number> {
    return (await this.sql.get<{ n: number }>(`SELECT COUNT(DISTINCT message_id) AS n FROM deliveries WHERE channel = ? AND state = 'sent' AND sent_at > ?`, [this.channel, t]))!.n;
  }

  /** When the last digest went out, or null. */
  async lastDigestAt(): Promise<number | null> {
    return (await this.sql.get<{ t: number | null }>(`SELECT MAX(sent_at) AS t FROM deliveries WHERE channel = ? AND state = 'sent' AND digest = 1`, [this.channel]))!.t;
  }

  /** The notice for an event, joined with its alarm and host. */
  async notice(eventId: number): Promise<AlarmNotice | undefined> {
    const r = await this.sql.get(
      `SELECT e.id AS "eventId", CASE WHEN e.reminder IS NULL THEN e.action ELSE 'remind' END AS action, e.at, a.id AS "alarmId", a.host, h.grp AS grp, a.kind, a.severity, a.subject, a.detail,
              a.opened_at AS "openedAt", a.acked_at AS "ackedAt", a.resolved_at AS "resolvedAt"
       FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id LEFT JOIN hosts h ON h.host = a.host WHERE e.id = ?`,
      [eventId],
    );
    if (!r) return undefined;
    return {
      eventId: r.eventId as number,
      action: r.action as AlarmNotice['action'],
      at: r.at as number,
      alarmId: r.alarmId as number,
      host: r.host as string,
      group: (r.grp as string | null) ?? null,
      kind: r.kind as string,
      severity: r.severity as Severity,
      subject: r.subject as string,
      detail: parseDetail(r.detail as string | null),
      openedAt: r.openedAt as number,
      ackedAt: r.ackedAt as number | null,
      resolvedAt: r.resolvedAt as number | null,
    };
  }
}

function parseDetail(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
