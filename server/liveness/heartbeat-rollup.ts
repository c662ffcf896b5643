import type { Clock } from '../../shared/clock.ts';
import type { SqlDb } from '../storage/engine.ts';

/** The counts kept in memory are written at least this often (ms). */
export const ROLLUP_FLUSH_MS = 10_000;
/** Per-minute heartbeat rows are kept this long (ms); older ones are folded into hourly rows. */
export const MINUTE_ROLLUP_KEEP_MS = 48 * 3_600_000;

/** Rows written by one statement of {@link HeartbeatRollup.flush} (3 parameters each, under SQLite's 32,766). */
const FLUSH_ROWS = 500;

/**
 * The per-minute heartbeat rollup (`heartbeat_minutes`) that the dashboard's
 * bar and the report read: the one place that counts beats, writes them,
 * folds old minutes into hours and deletes what is past the retention.
 */
export class HeartbeatRollup {
  /** Beats counted but not written yet: minute -> host -> beats. */
  private pending = new Map<number, Map<string, number>>();
  private lastFlush: number;
  private compactedOnce = false;
  /** The flush writing now, if any (see {@link flush}). */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sql: SqlDb,
    private readonly clock: Clock,
  ) {
    this.lastFlush = clock.now();
  }

  /** Counts `n` beats of `host` at `at` (ms) in memory; {@link flush} writes them. */
  count(host: string, at: number, n = 1): void {
    const minute = Math.floor(at / 60_000);
    let m = this.pending.get(minute);
    if (!m) this.pending.set(minute, (m = new Map()));
    m.set(host, (m.get(host) ?? 0) + n);
  }

  /** {@link flush} when the last one is {@link ROLLUP_FLUSH_MS} old (the server's tick calls this). */
  async flushIfDue(): Promise<void> {
    if (this.clock.now() - this.lastFlush >= ROLLUP_FLUSH_MS) await this.flush();
  }

  /**
   * Writes the beats counted in memory in one transaction. Called every {@link ROLLUP_FLUSH_MS} by the
   * server's tick, before the dashboard and the report read, and at stop. The rollup used to be an upsert in
   * every heartbeat's commit, about a quarter of the heartbeat's SQLite time (its pages in every commit's WAL
   * append); a flush writes each host's row once. A crash loses at most the counts since the last flush (a
   * thinner minute on the bar); liveness (`last_seen`, deadlines) is committed before every ack.
   * Throws a storage error; the counts are then kept for the next try.
   */
  flush(): Promise<void> {
    // One after another: a flush resolves once the counts counted before it are written, even those another
    // caller's flush (the tick's, the dashboard's) took out of memory and is still writing.
    const run = this.writing.catch(() => {}).then(() => this.write());
    this.writing = run;
    return run;
  }

  private async write(): Promise<void> {
    this.lastFlush = this.clock.now();
    if (this.pending.size === 0) return;
    const counts = this.pending;
    this.pending = new Map();
    try {
      const rows = [...counts].flatMap(([minute, hosts]) => [...hosts].map(([host, n]) => [host, minute, n]));
      await this.sql.tx(async (tx) => {
        // Many rows a statement (each (host, minute) once: the map's keys), so that PostgreSQL does not pay a
        // round trip per host. The table is named in DO UPDATE: PostgreSQL finds a bare `beats` ambiguous there.
        for (let i = 0; i < rows.length; i += FLUSH_ROWS) {
          const chunk = rows.slice(i, i + FLUSH_ROWS);
          await tx.run(
            `INSERT INTO heartbeat_minutes (host, minute, beats) VALUES ${chunk.map(() => '(?, ?, ?)').join(', ')}
             ON CONFLICT (host, minute) DO UPDATE SET beats = heartbeat_minutes.beats + excluded.beats`,
            chunk.flat(),
          );
        }
      });
    } catch (err) {
      // E.g. a full disk: keep the counts for the next flush (bounded: one entry per host and minute).
      for (const [minute, hosts] of counts) for (const [host, n] of hosts) this.count(host, minute * 60_000, n);
      throw err;
    }
  }

  /** Deletes rollup rows older than `before` (ms); returns how many. */
  async prune(before: number): Promise<number> {
    // Host by host on the (host, minute) key: one DELETE over `minute < ?` scanned the whole rollup every hour.
    // Hosts are never deleted (a revoked one keeps its row), so the hosts table names every host with rollup rows.
    const hosts = await this.hostNames();
    const minute = Math.floor(before / 60_000);
    return this.sql.tx(async (tx) => {
      let n = 0;
      for (const h of hosts) n += await tx.run('DELETE FROM heartbeat_minutes WHERE host = ? AND minute < ?', [h, minute]);
      return n;
    });
  }

  /**
   * Folds the per-minute rows older than `before` (ms) into one row per
   * host and hour, kept at the hour's first minute; returns how many rows went.
   *
   * Why: a month of per-minute rows is 43 million rows and 1.5 GB at 1,000
   * hosts (docs/BENCHMARKS.md, Load). The bar reads only the last hour, and the
   * report sums ranges, which hourly rows still answer to the hour. Host by
   * host on the (host, minute) key; after the first pass only the last day
   * before `before` is looked at.
   */
  async compact(before: number): Promise<number> {
    const cut = Math.floor(before / 3_600_000) * 60;
    const from = this.compactedOnce ? cut - 1440 : 0;
    const hosts = await this.hostNames();
    const n = await this.sql.tx(async (tx) => {
      let k = 0;
      for (const h of hosts) {
        await tx.run(
          `INSERT INTO heartbeat_minutes (host, minute, beats)
           SELECT host, minute - minute % 60, SUM(beats) FROM heartbeat_minutes
           WHERE host = ? AND minute >= ? AND minute < ? AND minute % 60 != 0 GROUP BY host, minute - minute % 60
           ON CONFLICT (host, minute) DO UPDATE SET beats = heartbeat_minutes.beats + excluded.beats`,
          [h, from, cut],
        );
        k += await tx.run('DELETE FROM heartbeat_minutes WHERE host = ? AND minute >= ? AND minute < ? AND minute % 60 != 0', [h, from, cut]);
      }
      return k;
    });
    this.compactedOnce = true;
    return n;
  }

  private async hostNames(): Promise<string[]> {
    return (await this.sql.all<{ host: string }>('SELECT host FROM hosts')).map((r) => r.host);
  }
}
