import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { errorLine, sharedError } from '../../shared/errors.ts';
import { acceptGroup } from '../baselines/group-accept.ts';
import { openServerContext } from '../context.ts';
import { serverError } from '../errors.ts';
import { acceptHost } from '../operator-actions.ts';
import type { CommandIo } from './io.ts';

/** A listening port as `alarms` shows it: `tcp/127.0.0.1:8080`, `udp6/[::]:53`. */
const PORT_KEY = /^(tcp|udp)6?\/\S+:\d{1,5}$/;

/**
 * `accept HOST [PATH...]` and `accept --group G PATH...`: takes the current
 * state of the named paths (a directory names everything under it; no path
 * means every file and listening port of the host; a port is named by its key,
 * e.g. `tcp/0.0.0.0:22`) into the baseline and resolves their alarms. With
 * `--group`, the group's sample hosts take their state and every other host
 * takes what matches a sample (see `acceptGroup` in fleet-accept.ts). Works on the
 * database, so a running `serve` sees it at once. A host's state is first made fresh: the
 * running `serve` asks its agent for a full report and the accept waits for it to be stored,
 * so it never blesses a state minutes old (a host not connected is refused: `TW_HOST_OFFLINE`);
 * `--stale` takes the last stored state as it is.
 */
export async function acceptCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'accept HOST [PATH...] [--stale] --dir D | accept --group G PATH... --dir D';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' }, group: { type: 'string' }, stale: { type: 'boolean' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  for (const p of values.group ? positionals : positionals.slice(1)) {
    if (!p.startsWith('/') && (values.group !== undefined || !PORT_KEY.test(p)))
      throw sharedError('TW_ARGS', `"${p}" is not an absolute path${values.group === undefined ? ' or a port like tcp/0.0.0.0:22' : ''} (usage: ${usage})`);
  }
  const ctx = openServerContext(dir, systemClock);
  try {
    const store = ctx.baselines;
    const now = Date.now();
    if (values.group !== undefined) {
      if (!positionals.length) throw sharedError('TW_ARGS', `name at least one PATH with --group (usage: ${usage})`);
      const hosts = [];
      for (const h of await ctx.hosts.all()) if (h.group === values.group && h.status !== 'revoked' && (await store.hasBaseline(h.host))) hosts.push(h);
      if (!hosts.length) throw serverError('TW_HOST_UNKNOWN', `no host with a baseline in group "${values.group}"`);
      const samples = hosts.filter((h) => h.sample).map((h) => h.host);
      const r = await acceptGroup(
        ctx.sql,
        store,
        hosts.map((h) => h.host),
        positionals,
        now,
      );
      let total = 0;
      for (const [h, accepted] of r.perHost) {
        total += accepted.length;
        io.out(`${h}${samples.includes(h) ? ' (sample)' : ''}: accepted ${accepted.length} path(s)`);
      }
      io.out(
        `accepted ${total} path(s) on ${hosts.length} host(s) of group ${values.group}` +
          (samples.length ? ` (matching sample host(s) ${samples.join(', ')})` : ' (no sample hosts: every host took its own state)'),
      );
      if (r.left.length) {
        // Partly done: what matched is accepted; what did not is where an intruder would be.
        for (const l of r.left) io.err(errorLine('tripwarden-server', serverError('TW_SAMPLE_MISMATCH', `${l.host} ${l.path} matches no sample host; not accepted`)));
        return 1;
      }
      return 0;
    }
    const [host, ...paths] = positionals;
    if (!host) throw sharedError('TW_ARGS', `name a HOST (usage: ${usage})`);
    const r = await acceptHost(ctx, host, paths, { stale: !!values.stale, clock: systemClock });
    const stored = r.storedAt === null ? 'at an unknown time' : new Date(r.storedAt).toISOString();
    io.out(r.source === 'stale' ? `accepting the last report of ${host}, stored ${stored} (--stale)` : `accepting the fresh report of ${host}, stored ${stored}`);
    if (r.agentExe) io.out(`accepted the agent executable of ${host}`);
    if (r.checker.entries || r.checker.resolved)
      io.out(`accepted ${r.checker.entries} checker entr${r.checker.entries === 1 ? 'y' : 'ies'} of ${host} (until its checker database is updated)`);
    if (r.unmatched.length) {
      // Nothing was matched for these: say so, but keep what the others accepted.
      io.err(errorLine('tripwarden-server', serverError('TW_PATH_UNKNOWN', `${host} never reported ${r.unmatched.join(', ')}`)));
      io.out(`accepted ${r.accepted.length} path(s) of ${host}`);
      return 1;
    }
    io.out(`accepted ${r.accepted.length} path(s) of ${host}`);
    return 0;
  } finally {
    await ctx.close();
  }
}
