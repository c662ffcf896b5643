import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { parseDuration } from '../../shared/duration.ts';
import { sharedError, TwError } from '../../shared/errors.ts';
import { openServerContext, type ServerContext } from '../context.ts';
import { serverError } from '../errors.ts';
import { ackAlarm, revokeHost, setMaintenance } from '../operator-actions.ts';
import type { CommandIo } from './io.ts';

function oneArg(positionals: string[], what: string, usage: string): string {
  if (positionals.length !== 1) throw sharedError('TW_ARGS', `name exactly one ${what} (usage: ${usage})`);
  return positionals[0]!;
}

async function withHost<T>(dir: string, host: string, fn: (ctx: ServerContext) => Promise<T>): Promise<T> {
  const ctx = openServerContext(dir, systemClock);
  try {
    if (!(await ctx.hosts.get(host))) throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}"`);
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** `revoke HOST`: refuses the host's certificate from now on and closes its live connection (within 2 s). */
export async function revokeCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'revoke HOST --dir D';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  const host = oneArg(positionals, 'HOST', usage);
  await withHost(dir, host, (ctx) => revokeHost(ctx, host, Date.now()));
  io.out(`revoked ${host}; a new enrollment needs \`token ${host} --replace\``);
  return 0;
}

/** `ack ALARM_ID`: marks an alarm as seen by a person; it stays open until its condition clears. */
export async function ackCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'ack ALARM_ID --dir D';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  const raw = oneArg(positionals, 'ALARM_ID', usage);
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0) throw sharedError('TW_ARGS', `"${raw}" is not an alarm id (a positive number)`);
  const ctx = openServerContext(dir, systemClock);
  try {
    try {
      await ackAlarm(ctx, id, Date.now());
    } catch {
      throw serverError('TW_ALARM_UNKNOWN', `no alarm with id ${id}`);
    }
  } finally {
    await ctx.close();
  }
  io.out(`acknowledged alarm ${id}`);
  return 0;
}

/** `maintenance HOST --for DURATION`: silences the host until then (`--for 0s` ends the window). */
export async function maintenanceCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'maintenance HOST --for DURATION --dir D';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' }, for: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  const host = oneArg(positionals, 'HOST', usage);
  let ms: number;
  try {
    ms = parseDuration(requireFlag(values.for, 'for', usage));
  } catch (err) {
    if (err instanceof TwError) throw err;
    throw sharedError('TW_ARGS', `--for: ${(err as Error).message}`);
  }
  const until = ms === 0 ? null : Date.now() + ms;
  await withHost(dir, host, (ctx) => setMaintenance(ctx, host, until));
  io.out(
    until === null
      ? `maintenance of ${host} ended; change alarms it held are delivered now`
      : `${host} in maintenance until ${new Date(until).toISOString()}: no liveness alarms, and change alarms are held from mail until then (delivered at its end unless accepted)`,
  );
  return 0;
}
