import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { HeartbeatResult, Liveness } from '../liveness/liveness.ts';

export interface HeartbeatBatcherOptions {
  /** How long the first heartbeat of a batch may wait for others, in ms (0: commit each at once). */
  windowMs: number;
  /** A batch is committed as soon as it holds this many. */
  maxBatch: number;
  /**
   * How long a heartbeat that asks for no ack may wait for a commit to join, in ms (unset: as one that asks).
   * Nothing waits on its commit, so it rides with the next heartbeat that asks for an ack (the agent asks on
   * one in three) instead of paying for a commit of its own.
   */
  holdMs?: number;
}

type Done = (r: HeartbeatResult | Error) => void;
interface Pending {
  host: string;
  bootId: string;
  seq: number;
  done: Done;
}

/**
 * Group commit for heartbeats: the heartbeats that arrive within a few ms
 * are recorded in one transaction, and each is acked only after that commit
 * (an ack still means "stored"). Only under load: when heartbeats come
 * further apart than the window on average, each that asks for an ack commits at once (one that asks for none
 * waits for it, see {@link HeartbeatBatcherOptions.holdMs}). At 1,000 heartbeats a second a commit per
 * heartbeat was about half the server's CPU: every commit appends the hosts
 * row's page, its index pages and the rollup page to the WAL, and a batch
 * shares them.
 *
 * Order: callers flush before anything else an agent sends (hello, goodbye,
 * disconnect), so a goodbye is never stored before the heartbeat sent ahead of it. Batches commit one after
 * another, and {@link flush} resolves only once every batch queued before it has committed.
 */
export class HeartbeatBatcher {
  private pending: Pending[] = [];
  private timer: TimerHandle | undefined;
  /** When {@link timer} fires (clock ms). */
  private timerAt = 0;
  /** Moving average of the time between heartbeats, ms; starts as if busy. */
  private gapEwma = 0;
  private lastAt: number;
  /** The batches committing now, in order: each starts after the one before it ends. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly liveness: Liveness,
    private readonly clock: Clock,
    private readonly o: HeartbeatBatcherOptions,
  ) {
    this.lastAt = clock.now();
  }

  /**
   * Queues a heartbeat; `done` gets its result after the commit, or the storage error.
   * @param wantAck whether an ack waits on this commit; one that asks for none may be held {@link HeartbeatBatcherOptions.holdMs}.
   */
  submit(host: string, bootId: string, seq: number, done: Done, wantAck = true): void {
    this.pending.push({ host, bootId, seq, done });
    // When heartbeats come further apart than the window, waiting would batch nothing and only delay the ack.
    const now = this.clock.now();
    this.gapEwma = 0.9 * this.gapEwma + 0.1 * Math.min(now - this.lastAt, 10 * this.o.windowMs);
    this.lastAt = now;
    if (this.o.windowMs <= 0 || this.pending.length >= this.o.maxBatch) {
      void this.flush();
      return;
    }
    // At 2,000 agents (200 heartbeats a second) each commit was alone, and BEGIN/COMMIT were a fifth of the
    // server's CPU: the two beats of three that ask for no ack now share the commit of the third.
    if (!wantAck && this.o.holdMs !== undefined) return this.arm(now, this.o.holdMs);
    if (this.gapEwma >= this.o.windowMs) {
      void this.flush();
      return;
    }
    this.arm(now, this.o.windowMs);
  }

  /** Commits in `ms` at the latest (an earlier timer stays). */
  private arm(now: number, ms: number): void {
    if (this.timer !== undefined) {
      if (this.timerAt <= now + ms) return;
      this.clock.clearTimeout(this.timer);
    }
    this.timerAt = now + ms;
    this.timer = this.clock.setTimeout(() => void this.flush(), ms);
  }

  /**
   * Commits what is queued now, after the batches before it; resolves when all of them are committed and
   * acked. Never rejects: errors go to each heartbeat's `done`.
   */
  flush(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    if (batch.length > 0) {
      this.pending = [];
      this.chain = this.chain.then(() => this.commit(batch));
    }
    return this.chain;
  }

  /** One transaction for the whole batch (the hot path at 10,000 agents, on both engines), then the acks. */
  private async commit(batch: Pending[]): Promise<void> {
    let results: (HeartbeatResult | Error)[];
    try {
      results = await this.liveness.heartbeats(batch);
    } catch (err) {
      // The database is unreachable: every beat alone would fail the same way, each after its own connect
      // attempt (up to the connect timeout each, while the beats queue behind). The whole batch fails at once.
      if ((err as { code?: unknown }).code === 'TW_DB_UNAVAILABLE') results = batch.map(() => err as Error);
      else results = await this.oneByOne(batch);
    }
    for (const [i, p] of batch.entries()) {
      try {
        p.done(results[i]!);
      } catch {
        // A caller's callback must not stop the others' acks (nor escape into a timer and end the process).
      }
    }
  }

  /** One failed statement rolls back the whole batch: retry each alone, so only the ones that fail again fail. */
  private async oneByOne(batch: Pending[]): Promise<(HeartbeatResult | Error)[]> {
    const results: (HeartbeatResult | Error)[] = [];
    for (const p of batch) {
      try {
        results.push(await this.liveness.heartbeat(p.host, p.bootId, p.seq));
      } catch (err) {
        results.push(err as Error);
      }
    }
    return results;
  }
}
