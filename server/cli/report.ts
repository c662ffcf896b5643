import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { parseDuration } from '../../shared/duration.ts';
import { sharedError } from '../../shared/errors.ts';
import { safeJson } from '../../shared/safe-text.ts';
import { openServerContext } from '../context.ts';
import { buildReport } from '../reports/report.ts';
import { formatReportText } from '../reports/report-format.ts';
import type { CommandIo } from './io.ts';

/** `report --dir D [--since 24h] [--json]`: every host accounted for, errors and missing first. */
export async function reportCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'report --dir D [--since 24h] [--json]';
  const { values } = parseCommandArgs(
    argv,
    {
      dir: { type: 'string' },
      since: { type: 'string', default: '24h' },
      json: { type: 'boolean', default: false },
    },
    usage,
  );
  const dir = requireFlag(values.dir, 'dir', usage);
  let sinceMs: number;
  try {
    sinceMs = parseDuration(values.since!);
  } catch (err) {
    throw sharedError('TW_ARGS', `--since: ${(err as Error).message}`);
  }
  const ctx = openServerContext(dir, systemClock);
  try {
    const now = Date.now();
    const r = await buildReport(ctx.sql, ctx.hosts, now - sinceMs, now);
    io.out(values.json ? safeJson(r) : formatReportText(r).trimEnd());
  } finally {
    await ctx.close();
  }
  return 0;
}
