import type { Severity } from '../../shared/alarm-kinds.ts';
import type { Db } from '../storage/db.ts';
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

/**
 * The durable outbox of one channel over `alarm_events` (written in the same
 * transaction that opens or resolves an alarm) and `deliveries` (this
 * channel's progress). Every method is one short transaction, so a crash at
 * any point leaves each event pending, claimed (reclaimed after
 * `claimTimeoutMs`) or done, never lost.
 */
/** How an outbox treats stale claims and a channel's first history, in ms. */
export interface OutboxOptions {
  /** A claim older than this is taken to belong to a sender that died mid-send (default 5 min). */
  claimTimeoutMs?: number;
  /** A channel seen for the first time starts with this much history (default a day). */
  backlogMs?: number;
}

export class Outbox {
  private readonly o: Required<OutboxOptions>;
  private readonly s;

  constructor(
    private readonly db: Db,
    readonly channel: string,
    o: OutboxOptions = {},
  ) {
    this.o = { claimTimeoutMs: o.claimTimeoutMs ?? 300_000, backlogMs: o.backlogMs ?? 86_400_000 };
    this.s = {
      cursor: db.prepare('SELECT last_event_id AS id FROM channel_cursors WHERE channel = ?'),
      setCursor: db.prepare('INSERT INTO channel_cursors (channel, last_event_id) VALUES (?, ?) ON CONFLICT(channel) DO UPDATE SET last_event_id = excluded.last_event_id'),
      firstSince: db.prepare('SELECT COALESCE(MIN(id) - 1, (SELECT COALESCE(MAX(id), 0) FROM alarm_events)) AS id FROM alarm_events WHERE at >= ?'),
      enlist: db.prepare(`INSERT OR IGNORE INTO deliveries (channel, event_id, next_attempt_at) SELECT ?, id, at FROM alarm_events WHERE id > ? ORDER BY id`),
      maxEvent: db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM alarm_events'),
      // Fair across hosts, critical first: each host's due events are ranked (critical, then oldest), and the
      // batch takes every host's first before any host's second, so a host with thousands queued holds no
      // other host's mail behind them.
      due: db.prepare(
        `SELECT eventId, attempts FROM (
           SELECT d.event_id AS eventId, d.attempts, COALESCE(a.severity = 'critical', 0) AS crit,
                  ROW_NUMBER() OVER (PARTITION BY a.host ORDER BY a.severity = 'critical' DESC, d.event_id) AS rank
           FROM deliveries d LEFT JOIN alarm_events e ON e.id = d.event_id LEFT JOIN alarms a ON a.id = e.alarm_id
           WHERE d.channel = @channel AND d.state = 'pending' AND d.next_attempt_at <= @now AND (d.claimed_at IS NULL OR d.claimed_at < @stale)
             AND NOT (d.held = 1 AND EXISTS (${IN_MAINTENANCE}))
         ) ORDER BY rank, crit DESC, eventId LIMIT @limit`,
      ),
      hold: db.prepare(
        `UPDATE deliveries AS d SET held = 1
         WHERE channel = @channel AND state = 'pending' AND held = 0 AND attempts = 0 AND EXISTS (${IN_MAINTENANCE} AND a.kind IN (${HELD_KINDS.map((k) => `'${k}'`).join(', ')}))`,
      ),
      dropHeld: db.prepare(
        `WITH pairs AS (
           SELECT e.alarm_id FROM deliveries p JOIN alarm_events e ON e.id = p.event_id
           WHERE p.channel = @channel AND p.state = 'pending' AND p.held = 1
           GROUP BY e.alarm_id HAVING SUM(e.action = 'open') > 0 AND SUM(e.action = 'resolve') > 0)
         UPDATE deliveries SET state = 'dropped', last_error = 'opened and resolved inside a maintenance window'
         WHERE channel = @channel AND state = 'pending' AND held = 1
           AND event_id IN (SELECT e.id FROM alarm_events e JOIN pairs USING (alarm_id))`,
      ),
      claim: db.prepare(
        `UPDATE deliveries SET claimed_at = ?, attempts = attempts + 1
         WHERE channel = ? AND event_id = ? AND state = 'pending' AND (claimed_at IS NULL OR claimed_at < ?)`,
      ),
      sent: db.prepare(
        `UPDATE deliveries SET state = 'sent', sent_at = ?, message_id = ?, digest = ?, claimed_at = NULL, last_error = NULL
         WHERE channel = ? AND event_id = ? AND state = 'pending'`,
      ),
      retry: db.prepare(`UPDATE deliveries SET next_attempt_at = ?, claimed_at = NULL, last_error = ? WHERE channel = ? AND event_id = ? AND state = 'pending'`),
      fail: db.prepare(`UPDATE deliveries SET state = 'failed', claimed_at = NULL, last_error = ? WHERE channel = ? AND event_id = ? AND state = 'pending'`),
      depth: db.prepare(`SELECT COUNT(*) AS n FROM deliveries WHERE channel = ? AND state = 'pending'`),
      failed: db.prepare(`SELECT COUNT(*) AS n FROM deliveries WHERE channel = ? AND state = 'failed'`),
      messagesSince: db.prepare(`SELECT COUNT(DISTINCT message_id) AS n FROM deliveries WHERE channel = ? AND state = 'sent' AND sent_at > ?`),
      lastDigest: db.prepare(`SELECT MAX(sent_at) AS t FROM deliveries WHERE channel = ? AND state = 'sent' AND digest = 1`),
      notice: db.prepare(
        `SELECT e.id AS eventId, e.action, e.at, a.id AS alarmId, a.host, h.grp AS grp, a.kind, a.severity, a.subject, a.detail,
                a.opened_at AS openedAt, a.acked_at AS ackedAt, a.resolved_at AS resolvedAt
         FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id LEFT JOIN hosts h ON h.host = a.host WHERE e.id = ?`,
      ),
    };
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
  enlist(now: number): number {
    return this.db
      .transaction(() => {
        const c = this.s.cursor.get(this.channel) as { id: number } | undefined;
        const from = c ? c.id : (this.s.firstSince.get(now - this.o.backlogMs) as { id: number }).id;
        const n = this.s.enlist.run(this.channel, from).changes;
        const max = (this.s.maxEvent.get() as { id: number }).id;
        this.s.setCursor.run(this.channel, Math.max(from, max));
        this.s.hold.run({ channel: this.channel, now });
        this.s.dropHeld.run({ channel: this.channel });
        return n;
      })
      .immediate();
  }

  /**
   * Pending deliveries that are due now, not held by a live claim nor by a maintenance window still open: each
   * host's first (its critical ones first, then the oldest) before any host's second, and so on.
   */
  due(now: number, limit: number): DueDelivery[] {
    return this.s.due.all({ channel: this.channel, now, stale: now - this.o.claimTimeoutMs, limit }) as DueDelivery[];
  }

  /** Claims deliveries with a conditional UPDATE; returns the ids this caller now owns. */
  claim(eventIds: number[], now: number): number[] {
    return this.db.transaction(() => eventIds.filter((id) => this.s.claim.run(now, this.channel, id, now - this.o.claimTimeoutMs).changes === 1)).immediate();
  }

  markSent(eventIds: number[], now: number, messageId: string, digest: boolean): void {
    this.db
      .transaction(() => {
        for (const id of eventIds) this.s.sent.run(now, messageId, digest ? 1 : 0, this.channel, id);
      })
      .immediate();
  }

  markRetry(eventIds: number[], nextAt: number, error: string): void {
    this.db
      .transaction(() => {
        for (const id of eventIds) this.s.retry.run(nextAt, error.slice(0, 500), this.channel, id);
      })
      .immediate();
  }

  markFailed(eventIds: number[], error: string): void {
    this.db
      .transaction(() => {
        for (const id of eventIds) this.s.fail.run(error.slice(0, 500), this.channel, id);
      })
      .immediate();
  }

  /** Pending deliveries (the outbox depth). */
  depth(): number {
    return (this.s.depth.get(this.channel) as { n: number }).n;
  }

  /** Deliveries given up on after a permanent error. */
  failedCount(): number {
    return (this.s.failed.get(this.channel) as { n: number }).n;
  }

  /** Messages (a digest counts once) sent after `t`. */
  messagesSince(t: number): number {
    return (this.s.messagesSince.get(this.channel, t) as { n: number }).n;
  }

  /** When the last digest went out, or null. */
  lastDigestAt(): number | null {
    return (this.s.lastDigest.get(this.channel) as { t: number | null }).t;
  }

  /** The notice for an event, joined with its alarm and host. */
  notice(eventId: number): AlarmNotice | undefined {
    const r = this.s.notice.get(eventId) as Record<string, unknown> | undefined;
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
