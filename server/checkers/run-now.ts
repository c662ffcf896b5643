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
export async function scheduleRunNow(ctx: Pick<ServerContext, 'sql' | 'hosts' | 'checkers' | 'config'>, host: string, now: number): Promise<RunNow[]> {
  if (!(await ctx.hosts.get(host))) throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
  const declared = await ctx.checkers.declared(host);
  if (!declared.length) throw serverError('TW_CHECKER_NONE', `${host} declared no checker in its last hello`);
  return ctx.sql.tx(async (tx) => {
    // `run-checker` through two instances at once: the second waits on this row lock (PostgreSQL; SQLite's
    // write lock serializes the two already) and then finds the first's run pending, instead of adding a second
    // that the agent would be sent too.
    await tx.run('UPDATE checker_hosts SET declared_at = declared_at WHERE host = ?', [host]);
    const out: RunNow[] = [];
    for (const { kind } of declared) {
      const pending = (await ctx.checkers.list({ host, limit: 50 }, tx)).find(
        (r) => r.checker === kind && r.origin === 'operator' && (r.status === 'scheduled' || r.status === 'running'),
      );
      if (pending) {
        out.push({ id: pending.id, checker: kind, existing: true });
        continue;
      }
      const id = await ctx.checkers.schedule(
        { host, checker: kind, origin: 'operator', windowStart: null, scheduledAt: now, deadlineAt: now + ctx.config.checkerTimeout },
        now,
        tx,
      );
      out.push({ id, checker: kind, existing: false });
    }
    return out;
  });
}
