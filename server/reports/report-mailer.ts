import type { Clock, TimerHandle } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import { DeliveryError, type Sent } from '../alarms/channels/channel.ts';
import type { MailText } from '../alarms/channels/mail-format.ts';
import type { HostStore } from '../liveness/host-store.ts';
import type { SqlDb } from '../storage/engine.ts';
import { buildReport } from './report.ts';
import { formatReportMail } from './report-format.ts';

/** How long a pass owns a day's run while it builds and sends the mail; a sender that died is retried after it. */
const SEND_LEASE_MS = 15 * 60_000;

export interface ReportMailerOptions {
  clock: Clock;
  log: Logger;
  /** The mail is due on each UTC day from this hour on (0-23). */
  hourUtc?: number;
  periodMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * The daily report mail. A `report_runs` row per UTC day is created once
 * the day's hour has come and marked sent when the mail went; while SMTP is
 * down it is retried with backoff, and a restart picks it up from the row.
 * Days older than two are not sent late (the next report covers them).
 */
export class ReportMailer {
  private timer?: TimerHandle;
  private running: Promise<unknown> | null = null;
  private readonly log: Logger;

  constructor(
    private readonly sql: SqlDb,
    private readonly hosts: HostStore,
    private readonly mail: (m: MailText) => Promise<Sent>,
    private readonly o: ReportMailerOptions,
  ) {
    this.log = o.log.child({ component: 'report-mailer' });
  }

  start(): void {
    this.timer = this.o.clock.setInterval(() => {
      if (!this.running) this.running = this.runOnce().finally(() => (this.running = null));
    }, this.o.periodMs ?? 60_000);
  }

  async stop(): Promise<void> {
    this.o.clock.clearInterval(this.timer);
    await this.running;
  }

  /**
   * One pass: create today's run when due, send what is unsent. Never throws; returns how many mails went.
   * Several instances may run it: the pass's writes are a once-only job (`daily-report`), and each run is taken
   * with a conditional UPDATE of its `next_attempt_at` (a lease of {@link SEND_LEASE_MS}), so even without that
   * lock a day is mailed by one instance only; a sender that dies mid-send leaves it to be retried after the lease.
   */
  async runOnce(): Promise<number> {
    let sent = 0;
    try {
      const now = this.o.clock.now();
      const d = new Date(now);
      const day = d.toISOString().slice(0, 10);
      const oldest = new Date(now - 2 * 86_400_000).toISOString().slice(0, 10);
      const taken = await this.sql.tx(
        async (tx) => {
          if (d.getUTCHours() >= (this.o.hourUtc ?? 7)) {
            await tx.run('INSERT INTO report_runs (day, since, until, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (day) DO NOTHING', [
              day,
              now - 86_400_000,
              now,
              now,
              now,
            ]);
          }
          const due = await tx.all<{ day: string; since: number; until: number; attempts: number }>(
            'SELECT day, since, until, attempts FROM report_runs WHERE sent_at IS NULL AND next_attempt_at <= ? AND day >= ? ORDER BY day',
            [now, oldest],
          );
          const mine: typeof due = [];
          for (const run of due) {
            const n = await tx.run('UPDATE report_runs SET next_attempt_at = ? WHERE day = ? AND sent_at IS NULL AND next_attempt_at <= ?', [now + SEND_LEASE_MS, run.day, now]);
            if (n === 1) mine.push(run);
          }
          return mine;
        },
        { onlyOne: 'daily-report' },
      );
      for (const run of taken ?? []) {
        try {
          const report = await buildReport(this.sql, this.hosts, run.since, run.until);
          await this.mail(formatReportMail(report));
          await this.sql.run('UPDATE report_runs SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE day = ? AND sent_at IS NULL', [this.o.clock.now(), run.day]);
          sent++;
          this.log.info({ day: run.day }, 'daily report mailed');
        } catch (err) {
          const permanent = err instanceof DeliveryError && err.permanent;
          const wait = Math.min(this.o.maxBackoffMs ?? 3_600_000, (this.o.backoffMs ?? 60_000) * 2 ** Math.min(run.attempts, 20));
          await this.sql.run('UPDATE report_runs SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE day = ? AND sent_at IS NULL', [
            permanent ? Number.MAX_SAFE_INTEGER : this.o.clock.now() + wait,
            (err as Error).message.slice(0, 500),
            run.day,
          ]);
          this.log.warn({ day: run.day, permanent, err: (err as Error).message }, 'daily report not mailed');
        }
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'report pass failed; retrying next period');
    }
    return sent;
  }
}
