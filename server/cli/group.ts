import { parseCommandArgs, parseOnOffArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { sharedError } from '../../shared/errors.ts';
import { openServerContext } from '../context.ts';
import { setHostGroup, setPortAlarms } from '../fleet/fleet-membership.ts';
import type { CommandIo } from './io.ts';

/**
 * `group HOST G --dir D`: moves a host to group G. Sample matching, the fleet
 * view and the report read the group from the database each time, so a
 * running `serve` uses the new group for the next report or event.
 */
export async function groupCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'group HOST G --dir D';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  if (positionals.length !== 2) throw sharedError('TW_ARGS', `name a HOST and a group G (usage: ${usage})`);
  const [host, group] = positionals as [string, string];
  const ctx = openServerContext(dir, systemClock);
  try {
    const was = setHostGroup(ctx.db, host, group);
    io.out(was === group ? `${host} is already in group ${group}` : `${host} moved from group ${was} to ${group}`);
  } finally {
    ctx.close();
  }
  return 0;
}

/**
 * `group-ports G on|off --dir D`: whether a new listening port on a host of
 * group G opens `port-opened` (on by default). Ports are measured and
 * baselined either way, so turning alarms on later does not flood.
 */
export async function groupPortsCommand(argv: string[], io: CommandIo): Promise<number> {
  const { dir, name: group, on } = parseOnOffArgs(argv, 'group-ports G on|off --dir D', 'a group');
  const ctx = openServerContext(dir, systemClock);
  try {
    setPortAlarms(ctx.db, group, on);
  } finally {
    ctx.close();
  }
  io.out(`port alarms ${on ? 'on' : 'off'} for group ${group}`);
  return 0;
}
