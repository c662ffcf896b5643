import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { parseDuration } from '../../shared/duration.ts';
import { sharedError } from '../../shared/errors.ts';
import { openServerContext } from '../context.ts';
import { checkGroupName } from '../fleet/fleet-membership.ts';
import { issueToken } from '../trust/tokens.ts';
import type { CommandIo } from './io.ts';

const USAGE = 'token HOST --dir D [--group G] [--ttl 1h] [--replace]';

/** `token HOST`: prints only a one-time enrollment token for HOST. */
export async function tokenCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      dir: { type: 'string' },
      group: { type: 'string', default: 'default' },
      ttl: { type: 'string', default: '1h' },
      replace: { type: 'boolean', default: false },
    },
    USAGE,
  );
  const dir = requireFlag(values.dir, 'dir', USAGE);
  const host = positionals[0];
  if (!host || positionals.length > 1) throw sharedError('TW_ARGS', `name exactly one HOST (usage: ${USAGE})`);
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
    io.out(issueToken(ctx.db, { host, group: values.group!, ttlMs, replace: values.replace!, now: Date.now() }));
  } finally {
    ctx.close();
  }
  return 0;
}
