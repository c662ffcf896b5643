import type { Clock, TimerHandle } from '../shared/clock.ts';
import type { Logger } from '../shared/log.ts';
import { type HeartbeatRollup, MINUTE_ROLLUP_KEEP_MS } from './liveness/heartbeat-rollup.ts';
import type { SqlDb } from './storage/engine.ts';

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
 *
 * `channels` names the channels this server delivers to: the cursor of one
 * no longer configured (a group's recipients removed from `server.yml`)
 * would otherwise keep every later event forever. Absent: every cursor counts.
 *
 * A once-only job across instances (`retention`): resolves undefined, having
 * removed nothing, when another instance is running it.
 */
export async function pruneOnce(sql: SqlDb, heartbeats: RollupPruning, now: number, retentionMs: number, channels?: readonly string[]): Promise<PruneCounts | undefined> {
  const before = now - retentionMs;
  const live = channels === undefined ? '' : `WHERE channel IN (${channels.map(() => '?').join(', ') || 'NULL'})`;
  const counts = await sql.tx(
    async (tx) => {
      const deliveries = await tx.run(
        `DELETE FROM deliveries WHERE (channel, event_id) IN (
         SELECT d.channel, d.event_id FROM deliveries d JOIN alarm_events e ON e.id = d.event_id
         WHERE d.state IN ('sent', 'dropped') AND e.at < ? LIMIT ?)`,
        [before, BATCH],
      );
      // An event is kept until every channel has taken it into its deliveries (its cursor is past it).
      const events = await tx.run(
        `DELETE FROM alarm_events WHERE id IN (
         SELECT e.id FROM alarm_events e
         WHERE e.at < ? AND e.id < (SELECT MAX(id) FROM alarm_events)
           AND e.id <= COALESCE((SELECT MIN(last_event_id) FROM channel_cursors ${live}), e.id)
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
         ORDER BY e.id LIMIT ?)`,
        [before, ...(channels ?? []), BATCH],
      );
      const commands = await tx.run('DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE done_at IS NOT NULL AND done_at < ? LIMIT ?)', [before, BATCH]);
      return { deliveries, events, commands };
    },
    { onlyOne: 'retention' },
  );
  if (!counts) return undefined;
  // The rollup runs its own transactions (not inside the one above); only the instance that had the job does it.
  const rollup = await heartbeats.prune(before);
  await heartbeats.compact(now - MINUTE_ROLLUP_KEEP_MS);
  return { rollup, ...counts };
}

/** Runs {@link pruneOnce} at start and hourly; a failed pass is logged and retried at the next. */
export class Retention {
  private timer?: TimerHandle;
  private running: Promise<void> | null = null;

  constructor(
    private readonly sql: SqlDb,
    private readonly heartbeats: RollupPruning,
    private readonly o: { clock: Clock; log: Logger; retentionMs: number; everyMs?: number; channels?: readonly string[] },
  ) {}

  start(): void {
    const pass = async () => {
      try {
        const n = await pruneOnce(this.sql, this.heartbeats, this.o.clock.now(), this.o.retentionMs, this.o.channels);
        if (!n) this.o.log.debug('another instance is pruning; skipped this pass');
        else if (n.deliveries || n.events || n.commands) this.o.log.info(n, 'pruned records older than the retention');
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'pruning old records failed; retrying in an hour');
      }
    };
    const kick = () => {
      this.running ??= pass().finally(() => (this.running = null));
    };
    kick();
    this.timer = this.o.clock.setInterval(kick, this.o.everyMs ?? 3_600_000);
  }

  /** Stops the timer and waits for the pass in flight. */
  async stop(): Promise<void> {
    this.o.clock.clearInterval(this.timer);
    await this.running;
  }
}
