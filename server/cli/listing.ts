import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { formatDuration } from '../../shared/duration.ts';
import { safeJson } from '../../shared/safe-text.ts';
import { openServerContext } from '../context.ts';
import type { CommandIo } from './io.ts';
import { printTable } from './text-table.ts';

/** `hosts`: every host with its status derived now; `--json` prints the docs/REFERENCE.md array. */
export async function hostsCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'hosts --dir D [--json]';
  const { values } = parseCommandArgs(argv, { dir: { type: 'string' }, json: { type: 'boolean', default: false } }, usage);
  const ctx = openServerContext(requireFlag(values.dir, 'dir', usage), systemClock);
  try {
    const views = await ctx.hosts.views(Date.now());
    if (values.json) io.out(safeJson(views));
    else
      printTable(
        io,
        ['HOST', 'GROUP', 'STATUS', 'LAST SEEN', 'ALARMS'],
        views.map((h) => [h.host, h.group, h.status, h.silentFor === null ? 'never' : `${formatDuration(h.silentFor)} ago`, String(h.openAlarms)]),
      );
  } finally {
    await ctx.close();
  }
  return 0;
}

/** `alarms`: alarms newest first; `--open` only unresolved ones. */
export async function alarmsCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'alarms --dir D [--open] [--json] [--host H]';
  const { values } = parseCommandArgs(
    argv,
    {
      dir: { type: 'string' },
      open: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    usage,
  );
  const ctx = openServerContext(requireFlag(values.dir, 'dir', usage), systemClock);
  try {
    const rows = await ctx.alarms.list({ open: values.open, host: values.host });
    if (values.json) io.out(safeJson(rows));
    else
      printTable(
        io,
        ['ID', 'HOST', 'SEVERITY', 'KIND', 'SUBJECT', 'OPENED', 'STATE'],
        rows.map((a) => [String(a.id), a.host, a.severity, a.kind, a.subject, a.openedAt, a.resolvedAt ? 'resolved' : a.ackedAt ? 'acked' : 'open']),
      );
  } finally {
    await ctx.close();
  }
  return 0;
}
