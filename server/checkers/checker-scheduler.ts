import type { RunChecker } from '../../shared/checker-messages.ts';
import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import { type Db, sql } from '../storage/db.ts';
import { RESULT_ALARMS } from './checker-results.ts';
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
    private readonly db: Db,
    private readonly store: CheckerStore,
    private readonly alarms: AlarmStore,
    private readonly o: CheckerSchedulerOptions,
  ) {
    this.random = o.random ?? Math.random;
  }

  /** One pass: plan (at most every `planEveryMs`), send what is due and mark what is overdue (at most every `dispatchEveryMs`). Never throws. */
  tick(): void {
    const now = this.o.clock.now();
    const step = (what: string, fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, `checker ${what} failed; retrying next tick`);
      }
    };
    if (now - this.plannedAt >= (this.o.planEveryMs ?? 60_000)) {
      step('planning', () => this.plan(now));
      this.plannedAt = now;
    }
    if (now - this.dispatchedAt < (this.o.dispatchEveryMs ?? 1_000)) return;
    this.dispatchedAt = now;
    step('dispatch', () => this.dispatch(now));
    step('deadline sweep', () => this.sweep(now));
  }

  /**
   * Gives every declared checker without a run in the current window (the one in progress, or whose runs may
   * still report, else the next) a moment in what is left of it. Returns how many runs it added.
   */
  plan(now: number): number {
    const w = this.o.window.current(now, this.o.timeoutMs);
    return this.db
      .transaction(() => {
        const todo = this.store.unplanned(w.start);
        const lo = Math.max(w.start, now);
        // Planned after the window closed (serve was down), the runs still go out before their deadline.
        const hi = w.end > lo ? w.end : lo + 60_000;
        const moments = stratify(todo.length, lo, hi, this.random);
        for (const [i, p] of todo.entries()) {
          this.store.schedule({ ...p, origin: 'window', windowStart: w.start, scheduledAt: moments[i]!, deadlineAt: w.end + this.o.timeoutMs }, now);
        }
        if (todo.length) this.o.log.info({ runs: todo.length, window: new Date(w.start).toISOString() }, 'checker runs planned');
        return todo.length;
      })
      .immediate();
  }

  /** Sends the due runs of connected hosts; returns how many went. */
  dispatch(now: number): number {
    let sent = 0;
    for (const run of this.store.due(now)) {
      if (!this.o.connected(run.host)) continue;
      const decl = this.store.declared(run.host).find((d) => d.kind === run.checker);
      // A checker the host stopped declaring is not sent: its run goes missed at the deadline, which says so.
      if (!decl) continue;
      const expect = this.expected(run.host, decl.files);
      const timeoutMs = Math.max(1_000, Math.min(86_400_000, this.o.timeoutMs, run.deadlineAt - now));
      if (!this.store.markSent(run.id, now)) continue;
      const m: RunChecker = { type: 'run-checker', runId: run.id, checker: run.checker, expect, timeoutMs };
      if (!this.o.send(run.host, m)) {
        sql(this.db, `UPDATE checker_runs SET status = 'scheduled', sent_at = NULL, started_at = NULL WHERE id = ? AND status = 'running'`).run(run.id);
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
  expected(host: string, files: readonly string[]): RunChecker['expect'] {
    const hash = this.db.prepare(`SELECT json_extract(baseline, '$.sha256') FROM measured WHERE host = ? AND kind = 'file' AND key = ?`).pluck();
    const out: RunChecker['expect'] = [];
    for (const path of files) {
      const sha256 = hash.get(host, path) as string | null | undefined;
      if (typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256)) out.push({ path, sha256 });
    }
    return out;
  }

  /** Marks runs past their deadline `missed` and opens `checker-missed`; returns how many. */
  sweep(now: number): number {
    const overdue = this.store.overdue(now);
    if (!overdue.length) return 0;
    // One transaction for the pass: a fleet that missed its window together is a thousand rows at once.
    const missed = this.db
      .transaction(() => {
        const out: { run: CheckerRun; reason: string }[] = [];
        for (const run of overdue) {
          const reason = this.missedReason(run);
          if (!this.store.markMissed(run.id, reason, now)) continue;
          this.alarms.open(run.host, RESULT_ALARMS.missed, run.checker, now, {
            runId: run.id,
            scheduledAt: new Date(run.scheduledAt).toISOString(),
            deadline: new Date(run.deadlineAt).toISOString(),
            reason,
          });
          out.push({ run, reason });
        }
        return out;
      })
      .immediate();
    for (const { run, reason } of missed) this.o.log.warn({ host: run.host, runId: run.id, checker: run.checker, reason }, 'checker run missed');
    return missed.length;
  }

  private missedReason(run: CheckerRun): string {
    if (run.sentAt !== null) return 'sent, but no result came by the deadline';
    if (!this.store.declared(run.host).some((d) => d.kind === run.checker)) return `the host no longer declares ${run.checker}`;
    return 'the host was not connected while the run was due';
  }
}
