import type { CheckerKind } from '../../shared/checker-messages.ts';
import type { ServerContext } from '../context.ts';
import { serverError } from '../errors.ts';

/** A run `run-checker` asked for: its id and checker, and whether it was already pending. */
export interface RunNow {
  id: string;
  checker: CheckerKind;
  /** An operator run of this checker was already scheduled or running: that one stands. */
  existing: boolean;
}

/**
 * Schedules a run of each checker the host declared, due now, with `checkerTimeout` to report. A running
 * `serve` sends it on its next tick (within 250 ms) when the host is connected, else when it connects.
 * @throws TwError TW_HOST_UNKNOWN, TW_CHECKER_NONE.
 */
export function scheduleRunNow(ctx: Pick<ServerContext, 'db' | 'hosts' | 'checkers' | 'config'>, host: string, now: number): RunNow[] {
  if (!ctx.hosts.get(host)) throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
  const declared = ctx.checkers.declared(host);
  if (!declared.length) throw serverError('TW_CHECKER_NONE', `${host} declared no checker in its last hello`);
  return ctx.db
    .transaction(() =>
      declared.map(({ kind }): RunNow => {
        const pending = ctx.checkers.list({ host, limit: 50 }).find((r) => r.checker === kind && r.origin === 'operator' && (r.status === 'scheduled' || r.status === 'running'));
        if (pending) return { id: pending.id, checker: kind, existing: true };
        const id = ctx.checkers.schedule({ host, checker: kind, origin: 'operator', windowStart: null, scheduledAt: now, deadlineAt: now + ctx.config.checkerTimeout }, now);
        return { id, checker: kind, existing: false };
      }),
    )
    .immediate();
}
