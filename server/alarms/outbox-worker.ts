import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import { type AlarmChannel, type AlarmNotice, DeliveryError } from './channels/channel.ts';
import type { Outbox } from './outbox.ts';

/** A worker's period and limits, in ms and counts; given in the constructor so tests run it fast. */
export interface OutboxWorkerOptions {
  clock: Clock;
  log: Logger;
  /** How often the outbox is looked at. */
  periodMs?: number;
  /** At most this many events per pass (and per digest). */
  batchLimit?: number;
  /** First retry after this long; doubles per attempt up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** What one pass did. */
export interface PassResult {
  sent: number;
  retried: number;
  failed: number;
  digests: number;
}

/**
 * Delivers one channel's outbox: claims due rows (one claimer per row, also
 * when several instances run a worker on the same outbox), sends, marks them
 * sent; on a transient error schedules a retry with exponential backoff, on a
 * permanent one marks them failed. For a channel
 * with `batching`, more events than its per-minute budget become one digest
 * per `digestIntervalMs` (an alarm storm of 500 missing hosts is one mail).
 * A pass never throws: one bad event is logged and the loop carries on.
 */
export class OutboxWorker {
  private readonly o: Required<Omit<OutboxWorkerOptions, 'clock' | 'log'>>;
  readonly outbox: Outbox;
  private readonly log: Logger;
  private timer?: TimerHandle;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  /**
   * Writes on deliveries this worker claimed that failed because the database went away mid-pass (a claim to
   * release, a mail sent but not yet marked sent): done first at the next pass. Left to the claim timeout,
   * they would hold those mails for minutes, and then send a sent one again.
   */
  private unsettled: (() => Promise<void>)[] = [];

  constructor(
    outbox: Outbox,
    readonly channel: AlarmChannel,
    private readonly opts: OutboxWorkerOptions,
  ) {
    this.o = {
      periodMs: opts.periodMs ?? 1000,
      batchLimit: opts.batchLimit ?? 1000,
      backoffMs: opts.backoffMs ?? 5000,
      maxBackoffMs: opts.maxBackoffMs ?? 300_000,
    };
    this.log = opts.log.child({ component: 'outbox', channel: channel.name });
    this.outbox = outbox;
  }

  start(): void {
    this.stopped = false;
    this.timer = this.opts.clock.setInterval(() => void this.kick(), this.o.periodMs);
    void this.kick();
  }

  /** Runs a pass unless one is running. */
  kick(): Promise<unknown> {
    if (this.stopped) return Promise.resolve();
    if (!this.running) {
      this.running = this.runOnce().finally(() => (this.running = null));
    }
    return this.running;
  }

  /** Stops the timer, waits for the pass in flight, closes the channel. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.clock.clearInterval(this.timer);
    await this.running;
    await this.channel.close().catch(() => {});
  }

  /** One pass over the outbox. Never throws. */
  async runOnce(): Promise<PassResult> {
    const r: PassResult = { sent: 0, retried: 0, failed: 0, digests: 0 };
    try {
      while (this.unsettled.length) {
        await this.unsettled[0]!();
        this.unsettled.shift();
      }
      const now = this.opts.clock.now();
      await this.outbox.enlist(now);
      const due = await this.outbox.due(now, this.o.batchLimit);
      if (due.length === 0) return r;
      const b = this.channel.batching;
      if (b && this.channel.sendDigest) {
        const budget = b.perMinute - (await this.outbox.messagesSince(now - 60_000));
        if (due.length > budget) {
          const last = await this.outbox.lastDigestAt();
          // Over budget: hold everything for the next digest rather than trickle single mails.
          if (last !== null && now - last < b.digestIntervalMs) return r;
          await this.deliver(due, r, (ns) => this.channel.sendDigest!(ns), true);
          return r;
        }
      }
      for (const d of due) {
        if (this.stopped) break;
        await this.deliver([d], r, (ns) => this.channel.send(ns[0]!), false);
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'outbox pass failed; retrying next period');
    }
    return r;
  }

  private async deliver(due: { eventId: number; attempts: number }[], r: PassResult, send: (ns: AlarmNotice[]) => Promise<{ messageId: string }>, digest: boolean): Promise<void> {
    const now = this.opts.clock.now();
    const ids = await this.outbox.claim(
      due.map((d) => d.eventId),
      now,
    );
    if (ids.length === 0) return;
    const notices: AlarmNotice[] = [];
    try {
      for (const id of ids) {
        const n = await this.outbox.notice(id);
        if (n) notices.push(n);
        else await this.outbox.markFailed([id], 'alarm event has no alarm row');
      }
    } catch (err) {
      this.unsettled.push(() => this.outbox.markRetry(ids, this.opts.clock.now(), (err as Error).message));
      throw err;
    }
    if (notices.length === 0) return;
    const sendIds = notices.map((n) => n.eventId);
    const attempts = Math.max(...due.filter((d) => sendIds.includes(d.eventId)).map((d) => d.attempts)) + 1;
    let sent: { messageId: string };
    try {
      sent = await send(notices);
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0]!;
      const permanent = err instanceof DeliveryError && err.permanent;
      if (permanent) {
        await this.settle(() => this.outbox.markFailed(sendIds, msg));
        r.failed += sendIds.length;
        this.log.error({ events: sendIds, err: msg }, 'alarm notice failed permanently; not retrying');
      } else {
        const wait = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** Math.min(attempts - 1, 20));
        const at = this.opts.clock.now() + wait;
        await this.settle(() => this.outbox.markRetry(sendIds, at, msg));
        r.retried += sendIds.length;
        this.log.warn({ events: sendIds.length, attempts, retryInMs: wait, err: msg }, 'alarm notice not sent; will retry');
      }
      return;
    }
    // Sent: a failing write now must not be taken for a failed send (that would mail it again).
    const at = this.opts.clock.now();
    await this.settle(() => this.outbox.markSent(sendIds, at, sent.messageId, digest));
    r.sent += sendIds.length;
    if (digest) r.digests++;
    this.log.info({ events: sendIds.length, digest, messageId: sent.messageId }, 'alarm notice sent');
  }

  /** Runs a write on claimed deliveries; one that fails is kept for the next pass (see {@link unsettled}). */
  private async settle(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.unsettled.push(write);
      throw err;
    }
  }
}
