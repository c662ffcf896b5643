import type { SqlDb } from '../storage/engine.ts';
import { HELD_KINDS } from './alarm-kinds.ts';
import { insertAlarmEvent } from './alarm-store.ts';

/** At most this many reminders are written per pass; the rest at the next. */
const BATCH = 500;
/** How often {@link AlarmReminders.tick} looks, in ms: a reminder is a day late or so, never urgent to the second. */
export const REMIND_LOOK_MS = 10_000;

/**
 * Writes reminders for critical alarms still open and not acknowledged: `everyMs` after an alarm opened, and
 * every `everyMs` after, one `alarm_events` row (action `open`, `reminder` its number) that each channel's
 * outbox then delivers once, like an opening. An alarm of a host in a maintenance window that holds its kind
 * gets none meanwhile; one still open when the window ends gets its reminder then. After a long stop one
 * reminder is written, not one per missed period. An alarm raised to critical later than it opened gets its
 * first reminder `everyMs` after the raise (whose opening event was sent just then).
 *
 * Each reminder is written by a conditional UPDATE of `alarms.reminders` from the count it read, in the
 * transaction that inserts the event: of two instances passing at once one wins, so a period gets one reminder.
 */
export class AlarmReminders {
  private nextLook = -Infinity;

  constructor(
    private readonly sql: SqlDb,
    /** The `remind` setting in ms; 0: no reminders. */
    private readonly everyMs: number,
  ) {}

  /** Runs {@link pass} unless one ran less than {@link REMIND_LOOK_MS} ago (`serve` calls it on every tick). */
  tick(now: number): Promise<number> {
    if (now < this.nextLook) return Promise.resolve(0);
    this.nextLook = now + REMIND_LOOK_MS;
    return this.pass(now);
  }

  /** Writes the reminders due at `now`; returns how many this call wrote. */
  async pass(now: number): Promise<number> {
    if (this.everyMs <= 0) return 0;
    const due = await this.sql.all<{ id: number; opened: number; reminders: number }>(
      `SELECT a.id, a.opened_at AS opened, a.reminders FROM alarms a
       WHERE a.resolved_at IS NULL AND a.acked_at IS NULL AND a.severity = 'critical' AND a.opened_at <= @latest
         AND a.opened_at + (a.reminders + 1) * CAST(@every AS BIGINT) <= @now
         AND NOT (a.kind IN (${HELD_KINDS.map((k) => `'${k}'`).join(', ')})
                  AND EXISTS (SELECT 1 FROM hosts h WHERE h.host = a.host AND h.maintenance_until > @now))
       ORDER BY a.opened_at LIMIT ${BATCH}`,
      { now, every: this.everyMs, latest: now - this.everyMs },
    );
    if (due.length === 0) return 0;
    // One instance at a time (the others skip this pass); the conditional UPDATE decides even without it.
    const wrote = await this.sql.tx(
      async (tx) => {
        let n = 0;
        for (const a of due) {
          // Raised from warning to critical lately (a new opening event): that mail has just gone; remind a period after it.
          const raised = await tx.get<{ at: number | null }>(`SELECT MAX(at) AS at FROM alarm_events WHERE alarm_id = ? AND action = 'open' AND reminder IS NULL`, [a.id]);
          if (raised?.at != null && now - raised.at < this.everyMs) continue;
          const count = Math.floor((now - a.opened) / this.everyMs);
          const won = await tx.run(`UPDATE alarms SET reminders = ? WHERE id = ? AND reminders = ? AND resolved_at IS NULL AND acked_at IS NULL AND severity = 'critical'`, [
            count,
            a.id,
            a.reminders,
          ]);
          if (won !== 1) continue;
          await insertAlarmEvent(tx, a.id, 'open', now, count);
          n++;
        }
        return n;
      },
      { onlyOne: 'alarm-reminders' },
    );
    return wrote ?? 0;
  }
}
