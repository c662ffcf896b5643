import type { Clock } from '../shared/clock.ts';
import { acceptAgentExe } from './baselines/agent-exe.ts';
import { FRESH_REPORT_WAIT, type FreshReportWait, requestFreshReport } from './baselines/fresh-report.ts';
import type { ServerContext } from './context.ts';
import { serverError } from './errors.ts';
import { listInstances } from './liveness/instance-lease.ts';

/**
 * What an operator can do to hosts and alarms, shared by the CLI
 * (`cli/operator.ts`) and the dashboard so both have the same effect.
 * Each throws a catalogued error when the host or alarm does not exist.
 */
type Ctx = Pick<ServerContext, 'sql' | 'hosts' | 'alarms' | 'liveness' | 'commands'>;

/** What an accept needs beyond the common context: the baselines. */
export type AcceptCtx = Ctx & Pick<ServerContext, 'baselines' | 'checkerResults'>;

async function requireHost(ctx: Ctx, host: string): Promise<void> {
  if (!(await ctx.hosts.get(host))) throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
}

/** Refuses the host's certificate from now on; a running `serve` closes its live connection on its next tick. */
export async function revokeHost(ctx: Ctx, host: string, now: number): Promise<void> {
  await requireHost(ctx, host);
  // Two steps, revoke first: the certificate is refused from the first one on, and a retry after a failed
  // second step revokes again (a no-op) and queues the close.
  await ctx.liveness.revoke(host);
  await ctx.commands.enqueue('close-host', host, 'revoked', now);
}

/** Marks an alarm as seen by a person; it stays open until its condition clears. */
export async function ackAlarm(ctx: Ctx, id: number, now: number): Promise<void> {
  if (!(await ctx.alarms.ack(id, now))) throw serverError('TW_ALARM_UNKNOWN', `no alarm with id ${id}`);
}

/** Silences a host until `until` (ms since the epoch), or ends its window when null. */
export async function setMaintenance(ctx: Ctx, host: string, until: number | null): Promise<void> {
  await requireHost(ctx, host);
  await ctx.liveness.setMaintenance(host, until);
}

/** What `accept HOST [PATH...]` did, for the CLI's lines and the dashboard's message. */
export interface AcceptResult {
  /** `fresh`: a report asked for now; `stale`: the last one stored, taken knowingly. */
  source: 'fresh' | 'stale';
  /** When the accepted report was stored (ms), or null when unknown. */
  storedAt: number | null;
  accepted: string[];
  /** Paths or ports named that the host never reported (the others were accepted). */
  unmatched: string[];
  /** The agent's executable hash was taken too (a whole-host accept). */
  agentExe: boolean;
  /** Checker entries recorded as accepted (against the checker's database, which Tripwarden never rewrites), and checker alarms resolved. */
  checker: { entries: number; resolved: number };
}

/**
 * Takes a host's current state of `paths` (none: everything) into its
 * baseline and resolves their alarms. First makes the state fresh: the
 * running `serve` asks the agent for a full report and this waits until it
 * is stored, so nothing minutes old is blessed; `stale` takes the last
 * stored report as it is. Throws `TW_HOST_UNKNOWN`, `TW_BASELINE_NONE`, or
 * `TW_HOST_OFFLINE` (not connected, no `serve`, or the report late).
 */
export async function acceptHost(ctx: AcceptCtx, host: string, paths: string[], o: { stale: boolean; clock: Clock; wait?: FreshReportWait }): Promise<AcceptResult> {
  await requireHost(ctx, host);
  if (!(await ctx.baselines.hasBaseline(host))) throw serverError('TW_BASELINE_NONE', `${host} has no baseline yet`);
  let storedAt: number | null;
  if (o.stale) {
    storedAt = await lastReportAt(ctx, host);
  } else {
    const serveLive = async () => (await listInstances(ctx.sql, o.clock.now())).some((i) => i.status === 'up');
    storedAt = await requestFreshReport(ctx.commands, host, o.clock, o.wait ?? FRESH_REPORT_WAIT, serveLive);
  }
  const at = o.clock.now();
  const r = await ctx.baselines.accept(host, paths.length ? paths : null, at);
  const agentExe = !paths.length && (await acceptAgentExe(ctx.sql, ctx.alarms, host, at));
  const c = await ctx.checkerResults.accept(host, paths.length ? paths : null, at);
  const unmatched = r.unmatched.filter((p) => !c.matched.includes(p));
  return { source: o.stale ? 'stale' : 'fresh', storedAt, accepted: r.accepted, unmatched, agentExe, checker: { entries: c.entries, resolved: c.resolved } };
}

/** When the host's last report was stored (ms), or null when none is (the time `accept --stale` takes). */
export async function lastReportAt(ctx: Pick<ServerContext, 'sql'>, host: string): Promise<number | null> {
  const last = await ctx.sql.get<{ at: number | null }>('SELECT reported_at AS at FROM baseline_hosts WHERE host = ?', [host]);
  return last?.at ?? null;
}
