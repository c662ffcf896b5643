import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Logger } from '../shared/log.ts';
import { type HeartbeatRollup, MINUTE_ROLLUP_KEEP_MS } from './liveness/heartbeat-rollup.ts';
import type { Db } from './storage/db.ts';

/** What retention asks of the heartbeat rollup. */
export type RollupPruning = Pick<HeartbeatRollup, 'prune' | 'compact'>;
/** Rows deleted per table per pass: the hourly pass stays a short pause, and a backlog drains over a few hours. */
const BATCH = 10_000;

export interface PruneCounts {
  rollup: number;
  deliveries: number;
  events: number;
  commands: number;
}

/**
 * What `retention` removes, and what it keeps. Removed once older than the
 * retention: the heartbeat rollup, deliveries that were sent or dropped, the
 * alarm events no delivery still needs, and CLI commands already applied.
 * Kept: alarms, spool records and operator actions (the record of what
 * happened), pending and failed deliveries (an alarm that never reached the
 * security address must stay visible), and the newest alarm event — SQLite
 * reuses the largest rowid once it is deleted, and the channels' cursors and
 * the dashboard's change check count on event ids only growing.
 */
export function pruneOnce(db: Db, heartbeats: RollupPruning, now: number, retentionMs: number): PruneCounts {
  const before = now - retentionMs;
  const rollup = heartbeats.prune(before);
  heartbeats.compact(now - MINUTE_ROLLUP_KEEP_MS);
  return db
    .transaction((): PruneCounts => {
      const deliveries = db
        .prepare(
          `DELETE FROM deliveries WHERE rowid IN (
         SELECT d.rowid FROM deliveries d JOIN alarm_events e ON e.id = d.event_id
         WHERE d.state IN ('sent', 'dropped') AND e.at < ? LIMIT ?)`,
        )
        .run(before, BATCH).changes;
      // An event is kept until every channel has taken it into its deliveries (its cursor is past it).
      const events = db
        .prepare(
          `DELETE FROM alarm_events WHERE id IN (
         SELECT e.id FROM alarm_events e
         WHERE e.at < ? AND e.id < (SELECT MAX(id) FROM alarm_events)
           AND e.id <= COALESCE((SELECT MIN(last_event_id) FROM channel_cursors), e.id)
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
         ORDER BY e.id LIMIT ?)`,
        )
        .run(before, BATCH).changes;
      const commands = db.prepare('DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE done_at IS NOT NULL AND done_at < ? LIMIT ?)').run(before, BATCH).changes;
      return { rollup, deliveries, events, commands };
    })
    .immediate();
}

/** Runs {@link pruneOnce} at start and hourly; a failed pass is logged and retried at the next. */
export class Retention {
  private timer?: TimerHandle;

  constructor(
    private readonly db: Db,
    private readonly heartbeats: RollupPruning,
    private readonly o: { clock: Clock; log: Logger; retentionMs: number; everyMs?: number },
  ) {}

  start(): void {
    const pass = () => {
      try {
        const n = pruneOnce(this.db, this.heartbeats, this.o.clock.now(), this.o.retentionMs);
        if (n.deliveries || n.events || n.commands) this.o.log.info(n, 'pruned records older than the retention');
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'pruning old records failed; retrying in an hour');
      }
    };
    pass();
    this.timer = this.o.clock.setInterval(pass, this.o.everyMs ?? 3_600_000);
  }

  stop(): void {
    this.o.clock.clearInterval(this.timer);
  }
}
