import { parseOnOffArgs } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { openServerContext } from '../context.ts';
import { setSample } from '../fleet/fleet-membership.ts';
import type { CommandIo } from './io.ts';

/**
 * `sample HOST on|off --dir D`: marks a host as a sample of its group. A file
 * change elsewhere in the group to the content a sample has accepted is then
 * `expected` (a warning) instead of critical. Read from the database at each
 * judgement, so a running `serve` applies it to the next report or event.
 */
export async function sampleCommand(argv: string[], io: CommandIo): Promise<number> {
  const { dir, name: host, on } = parseOnOffArgs(argv, 'sample HOST on|off --dir D', 'a HOST');
  const ctx = openServerContext(dir, systemClock);
  try {
    await setSample(ctx.sql, host, on);
    const group = (await ctx.hosts.get(host))!.group;
    io.out(on ? `${host} is a sample host of group ${group}` : `${host} is no longer a sample host of group ${group}`);
  } finally {
    await ctx.close();
  }
  return 0;
}
