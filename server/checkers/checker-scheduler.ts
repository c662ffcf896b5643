import type { RunChecker } from '../../shared/checker-messages.ts';
import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import { baselineField, RESULT_ALARMS } from './checker-results.ts';
import type { CheckerRun, CheckerStore } from './checker-store.ts';
import { type CheckerWindow, stratify } from './checker-window.ts';

export interface CheckerSchedulerOptions {
  window: CheckerWindow;
  /** `checkerTimeout`, in ms: a run may report until its window's end plus this; the agent kills it after this. */
  timeoutMs: number;
  clock: Clock;
  log: Logger;
  /** Whether the host has a live connection that said hello (a run can be sent now). */
  connected(host: string): boolean;
  /** Sends a run to the host's live connection; false when there is none any more. */
  send(host: string, m: RunChecker): boolean;
  /** Uniform in [0, 1): where in the window each host's run falls. */
  random?: () => number;
  /** How often the window is planned (new hosts, the next day), in ms. */
  planEveryMs?: number;
  /**
   * How often due runs are looked for and deadlines checked, in ms (default 1 s: `run-checker` reaches its host
   * within 2 s, and runs due for hosts that are offline are not read again on every 250 ms tick).
   */
  dispatchEveryMs?: number;
}

/**
 * When checkers run. Every host that declared a checker gets one run a day at a random moment of
 * `checkerWindow`, stratified over the window (see {@link stratify}) and drawn again each day; `run-checker`
 * adds one now. Each tick sends the runs that are due to hosts connected now (with the SHA-256 the baseline
 * holds for each declared file; a file with none is left out, so the agent refuses), and marks `missed` the
 * runs with no result by their deadline (window end plus `checkerTimeout`). A host offline when its run is
 * due gets it at its next connection, until the deadline. All state is in the database: no timer per host.
 */
export class CheckerScheduler {
  private plannedAt = Number.NEGATIVE_INFINITY;
  private dispatchedAt = Number.NEGATIVE_INFINITY;
  private readonly random: () => number;

  constructor(
    private readonly sql: SqlDb,
    private readonly store: CheckerStore,
    private readonly alarms: AlarmStore,
    private readonly o: CheckerSchedulerOptions,
  ) {
    this.random = o.random ?? Math.random;
  }

  /**
   * One pass: plan (at most every `planEveryMs`), send what is due and mark what is overdue (at most every
   * `dispatchEveryMs`). Never rejects.
   */
  async tick(): Promise<void> {
    const now = this.o.clock.now();
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, `checker ${what} failed; retrying next tick`);
      }
    };
    if (now - this.plannedAt >= (this.o.planEveryMs ?? 60_000)) {
      this.plannedAt = now;
      await step('planning', () => this.plan(now));
    }
    if (now - this.dispatchedAt < (this.o.dispatchEveryMs ?? 1_000)) return;
    this.dispatchedAt = now;
    await step('dispatch', () => this.dispatch(now));
    await step('deadline sweep', () => this.sweep(now));
  }

  /**
   * Gives every declared checker without a run in the current window (the one in progress, or whose runs may
   * still report, else the next) a moment in what is left of it. Returns how many runs it added. With several
   * instances one plans at a time; the others (and a run that lost a race on the window's unique index) add none.
   */
  async plan(now: number): Promise<number> {
    const w = this.o.window.current(now, this.o.timeoutMs);
    const added = await this.sql.tx(
      async (tx) => {
        const todo = await this.store.unplanned(w.start, tx);
        const lo = Math.max(w.start, now);
        // Planned after the window closed (serve was down), the runs still go out before their deadline.
        const hi = w.end > lo ? w.end : lo + 60_000;
        const moments = stratify(todo.length, lo, hi, this.random);
        for (const [i, p] of todo.entries()) {
          await this.store.schedule({ ...p, origin: 'window', windowStart: w.start, scheduledAt: moments[i]!, deadlineAt: w.end + this.o.timeoutMs }, now, tx);
        }
        if (todo.length) this.o.log.info({ runs: todo.length, window: new Date(w.start).toISOString() }, 'checker runs planned');
        return todo.length;
      },
      { onlyOne: 'checker-plan' },
    );
    return added ?? 0;
  }

  /** Sends the due runs of connected hosts; returns how many went. */
  async dispatch(now: number): Promise<number> {
    let sent = 0;
    for (const run of await this.store.due(now)) {
      if (!this.o.connected(run.host)) continue;
      const decl = (await this.store.declared(run.host)).find((d) => d.kind === run.checker);
      // A checker the host stopped declaring is not sent: its run goes missed at the deadline, which says so.
      if (!decl) continue;
      const expect = await this.expected(run.host, decl.files);
      const timeoutMs = Math.max(1_000, Math.min(86_400_000, this.o.timeoutMs, run.deadlineAt - now));
      if (!(await this.store.markSent(run.id, now))) continue;
      const m: RunChecker = { type: 'run-checker', runId: run.id, checker: run.checker, expect, timeoutMs };
      if (!this.o.send(run.host, m)) {
        await this.sql.run(`UPDATE checker_runs SET status = 'scheduled', sent_at = NULL, started_at = NULL WHERE id = ? AND status = 'running'`, [run.id]);
        continue;
      }
      sent++;
      const log = { host: run.host, runId: run.id, checker: run.checker, expected: expect.length, declared: decl.files.length };
      if (expect.length < decl.files.length) this.o.log.warn(log, 'checker run sent; files without a baseline hash are left out, so the agent will refuse it');
      else this.o.log.info(log, 'checker run sent');
    }
    return sent;
  }

  /** The baseline SHA-256 of each declared file that has one. */
  async expected(host: string, files: readonly string[]): Promise<RunChecker['expect']> {
    const out: RunChecker['expect'] = [];
    for (const path of files) {
      const sha256 = await baselineField(this.sql, host, path, 'sha256');
      if (typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256)) out.push({ path, sha256 });
    }
    return out;
  }

  /** Marks runs past their deadline `missed` and opens `checker-missed`; returns how many. */
  async sweep(now: number): Promise<number> {
    const overdue = await this.store.overdue(now);
    if (!overdue.length) return 0;
    // One transaction for the pass: a fleet that missed its window together is a thousand rows at once.
    const missed = await this.sql.tx(async (tx) => {
      const out: { run: CheckerRun; reason: string }[] = [];
      for (const run of overdue) {
        const reason = await this.missedReason(run, tx);
        // The conditional update says which instance marked it: only that one opens the alarm.
        if (!(await this.store.markMissed(run.id, reason, now, tx))) continue;
        await this.alarms.open(
          run.host,
          RESULT_ALARMS.missed,
          run.checker,
          now,
          {
            runId: run.id,
            scheduledAt: new Date(run.scheduledAt).toISOString(),
            deadline: new Date(run.deadlineAt).toISOString(),
            reason,
          },
          undefined,
          tx,
        );
        out.push({ run, reason });
      }
      return out;
    });
    for (const { run, reason } of missed) this.o.log.warn({ host: run.host, runId: run.id, checker: run.checker, reason }, 'checker run missed');
    return missed.length;
  }

  private async missedReason(run: CheckerRun, q: Queryable): Promise<string> {
    if (run.sentAt !== null) return 'sent, but no result came by the deadline';
    if (!(await this.store.declared(run.host, q)).some((d) => d.kind === run.checker)) return `the host no longer declares ${run.checker}`;
    return 'the host was not connected while the run was due';
  }
}
