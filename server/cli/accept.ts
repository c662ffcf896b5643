import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { TwError } from '../../shared/errors.ts';
import { acceptAgentExe } from '../agent-exe.ts';
import { AlarmStore } from '../alarm-store.ts';
import { BaselineStore } from '../baseline-store.ts';
import { openServerContext } from '../context.ts';
import { serverError } from '../errors.ts';
import type { CommandIo } from './io.ts';

/**
 * `accept HOST [PATH...]` and `accept --group G PATH...`: takes the current
 * state of the named paths (a directory names everything under it; no path
 * means every file of the host) into the baseline and resolves their file
 * alarms. Works on the database alone, so a running `serve` sees it at once.
 */
export async function acceptCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'accept HOST [PATH...] --dir D | accept --group G PATH... --dir D';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' }, group: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  for (const p of values.group ? positionals : positionals.slice(1)) {
    if (!p.startsWith('/')) throw new TwError('TW_ARGS', `"${p}" is not an absolute path (usage: ${usage})`, 2);
  }
  const ctx = openServerContext(dir, systemClock);
  try {
    const store = new BaselineStore(ctx.db, new AlarmStore(ctx.db));
    const now = Date.now();
    if (values.group !== undefined) {
      if (!positionals.length) throw new TwError('TW_ARGS', `name at least one PATH with --group (usage: ${usage})`, 2);
      const hosts = ctx.hosts.all().filter((h) => h.group === values.group && store.hasBaseline(h.host));
      if (!hosts.length) throw serverError('TW_HOST_UNKNOWN', `no host with a baseline in group "${values.group}"`);
      let total = 0;
      for (const h of hosts) {
        const r = store.accept(h.host, positionals, now);
        total += r.accepted.length;
        io.out(`${h.host}: accepted ${r.accepted.length} path(s)`);
      }
      io.out(`accepted ${total} path(s) on ${hosts.length} host(s) of group ${values.group}`);
      return 0;
    }
    const [host, ...paths] = positionals;
    if (!host) throw new TwError('TW_ARGS', `name a HOST (usage: ${usage})`, 2);
    if (!ctx.hosts.get(host)) throw serverError('TW_HOST_UNKNOWN', `no enrolled host named "${host}" (see \`hosts --dir ${dir}\`)`);
    if (!store.hasBaseline(host)) throw serverError('TW_BASELINE_NONE', `${host} has no baseline yet; it is taken from the agent's first full report`);
    const r = store.accept(host, paths.length ? paths : null, now);
    if (!paths.length && acceptAgentExe(ctx.db, ctx.alarms, host, now)) io.out(`accepted the agent executable of ${host}`);
    if (r.unmatched.length) {
      // Nothing was matched for these: say so, but keep what the others accepted.
      io.err(`tripwarden-server: error TW_PATH_UNKNOWN: ${host} never reported ${r.unmatched.join(', ')}`);
      io.out(`accepted ${r.accepted.length} path(s) of ${host}`);
      return 1;
    }
    io.out(`accepted ${r.accepted.length} path(s) of ${host}`);
    return 0;
  } finally {
    ctx.close();
  }
}
