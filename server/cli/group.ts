import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { sharedError } from '../../shared/errors.ts';
import { openServerContext } from '../context.ts';
import { checkGroupName, portAllowList, setHostGroup, setPortAlarms, setPortAllowed } from '../fleet/fleet-membership.ts';
import { GroupPeers } from '../fleet/fleet-peers.ts';
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
    const was = await setHostGroup(ctx.sql, host, group);
    io.out(was === group ? `${host} is already in group ${group}` : `${host} moved from group ${was} to ${group}`);
  } finally {
    await ctx.close();
  }
  return 0;
}

/**
 * `group-ports G on|off --dir D`: whether a new listening port on a host of
 * group G opens `port-opened` (on by default). `group-ports G allow|disallow
 * NAME... --dir D`: listeners owned by processes of these names open none on
 * that group. `group-ports G --dir D` prints the group's setting and list.
 * Ports are measured and baselined either way; `serve` reads these per event.
 */
export async function groupPortsCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'group-ports G on|off|allow NAME...|disallow NAME... --dir D';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  const [group, verb, ...names] = positionals;
  if (group === undefined) throw sharedError('TW_ARGS', `name a group G (usage: ${usage})`);
  const onOff = verb === 'on' || verb === 'off';
  if (verb !== undefined && !onOff && verb !== 'allow' && verb !== 'disallow') throw sharedError('TW_ARGS', `"${verb}" is not on, off, allow or disallow (usage: ${usage})`);
  if (onOff ? names.length > 0 : verb !== undefined && names.length === 0)
    throw sharedError('TW_ARGS', `${onOff ? 'on and off take no names' : `name the processes to ${verb}`} (usage: ${usage})`);
  const ctx = openServerContext(dir, systemClock);
  try {
    checkGroupName(group);
    if (onOff) await setPortAlarms(ctx.sql, group, verb === 'on');
    else if (verb !== undefined) await setPortAllowed(ctx.sql, group, names, verb === 'allow');
    const peers = new GroupPeers(ctx.sql);
    const list = await portAllowList(ctx.sql, group);
    io.out(`port alarms ${(await peers.portAlarms(group)) ? 'on' : 'off'} for group ${group}; allowed processes: ${list.length ? list.join(' ') : '(none)'}`);
  } finally {
    await ctx.close();
  }
  return 0;
}
