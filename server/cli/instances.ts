import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { formatDuration } from '../../shared/duration.ts';
import { sharedError } from '../../shared/errors.ts';
import { safeJson } from '../../shared/safe-text.ts';
import { openServerContext } from '../context.ts';
import { forgetInstance, listInstances } from '../liveness/instance-lease.ts';
import type { CommandIo } from './io.ts';
import { printTable } from './text-table.ts';

/** `instances`: the `serve` instances sharing the database, with their lease status; `--json` prints the docs/REFERENCE.md array. */
export async function instancesCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'instances --dir D [--json] [--forget NAME]';
  const { values } = parseCommandArgs(argv, { dir: { type: 'string' }, json: { type: 'boolean', default: false }, forget: { type: 'string' } }, usage);
  const ctx = openServerContext(requireFlag(values.dir, 'dir', usage), systemClock);
  try {
    const now = Date.now();
    if (values.forget !== undefined) {
      const r = await forgetInstance(ctx.sql, ctx.alarms, values.forget, now);
      if (r === 'unknown') throw sharedError('TW_ARGS', `no instance named "${values.forget}" shares this database (\`instances --dir D\` lists them)`);
      if (r === 'up') throw sharedError('TW_ARGS', `instance "${values.forget}" is up: stop it before forgetting it`);
      io.out(`forgot instance ${values.forget}`);
      return 0;
    }
    const rows = await listInstances(ctx.sql, now);
    if (values.json) {
      io.out(safeJson(rows));
      return 0;
    }
    const cells = rows.map((r) => [r.name, r.status, `${formatDuration(Math.max(0, now - Date.parse(r.lastSeen)))} ago`, String(r.agents)]);
    const head = ['NAME', 'STATUS', 'LAST SEEN', 'AGENTS'];
    printTable(io, head, cells);
  } finally {
    await ctx.close();
  }
  return 0;
}
