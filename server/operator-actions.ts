import type { ServerContext } from './context.ts';
import { serverError } from './errors.ts';

/**
 * What an operator can do to hosts and alarms, shared by the CLI
 * (`cli/operator.ts`) and the dashboard so both have the same effect.
 * Each throws a catalogued error when the host or alarm does not exist.
 */
type Ctx = Pick<ServerContext, 'db' | 'hosts' | 'alarms' | 'liveness' | 'commands'>;

function requireHost(ctx: Ctx, host: string): void {
  if (!ctx.hosts.get(host)) throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
}

/** Refuses the host's certificate from now on; a running `serve` closes its live connection on its next tick. */
export function revokeHost(ctx: Ctx, host: string, now: number): void {
  requireHost(ctx, host);
  ctx.db.transaction(() => {
    ctx.liveness.revoke(host);
    ctx.commands.enqueue('close-host', host, 'revoked', now);
  })();
}

/** Marks an alarm as seen by a person; it stays open until its condition clears. */
export function ackAlarm(ctx: Ctx, id: number, now: number): void {
  if (!ctx.alarms.ack(id, now)) throw serverError('TW_ALARM_UNKNOWN', `no alarm with id ${id}`);
}

/** Silences a host until `until` (ms since the epoch), or ends its window when null. */
export function setMaintenance(ctx: Ctx, host: string, until: number | null): void {
  requireHost(ctx, host);
  ctx.liveness.setMaintenance(host, until);
}
