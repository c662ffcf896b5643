import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { parseDuration } from '../../shared/duration.ts';
import { sharedError } from '../../shared/errors.ts';
import { openServerContext } from '../context.ts';
import { checkGroupName } from '../fleet/fleet-membership.ts';
import { ANY_HOST, issueToken } from '../trust/tokens.ts';
import type { CommandIo } from './io.ts';

const USAGE = 'token (HOST [--replace] | --count N [--json]) --dir D [--group G] [--ttl 1h]';
/** The most tokens one `token --count` prints. */
const MAX_COUNT = 10_000;

/**
 * `token HOST`: prints only a one-time enrollment token for HOST. `token --count N`: N tokens for
 * a rollout, one a line (a JSON array with `--json`); each enrolls one new host under its own name.
 */
export async function tokenCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      dir: { type: 'string' },
      group: { type: 'string', default: 'default' },
      ttl: { type: 'string', default: '1h' },
      replace: { type: 'boolean', default: false },
      count: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    USAGE,
  );
  const dir = requireFlag(values.dir, 'dir', USAGE);
  let count = 1;
  let host = positionals[0];
  if (values.count !== undefined) {
    count = Number(values.count);
    if (!/^\d+$/.test(values.count) || count < 1 || count > MAX_COUNT) throw sharedError('TW_ARGS', `--count "${values.count}" is not a number from 1 to ${MAX_COUNT}`);
    if (positionals.length) throw sharedError('TW_ARGS', `--count makes tokens for hosts that name themselves: name no HOST (usage: ${USAGE})`);
    if (values.replace) throw sharedError('TW_ARGS', `--count cannot --replace: a reinstalled host takes its own \`token HOST --replace\``);
    host = ANY_HOST;
  } else if (!host || positionals.length > 1) throw sharedError('TW_ARGS', `name exactly one HOST, or --count N (usage: ${USAGE})`);
  let ttlMs: number;
  try {
    ttlMs = parseDuration(values.ttl!);
  } catch (err) {
    throw sharedError('TW_ARGS', `--ttl: ${(err as Error).message}`);
  }
  if (ttlMs <= 0) throw sharedError('TW_ARGS', '--ttl must be longer than 0');
  checkGroupName(values.group!);
  const ctx = openServerContext(dir, systemClock);
  try {
    const now = Date.now();
    const tokens = await ctx.sql.tx(async (tx) => {
      const out: string[] = [];
      for (let i = 0; i < count; i++) out.push(await issueToken(tx, { host: host!, group: values.group!, ttlMs, replace: values.replace!, now }));
      return out;
    });
    if (values.json) io.out(JSON.stringify(tokens));
    else io.out(tokens.join('\n'));
  } finally {
    await ctx.close();
  }
  return 0;
}
