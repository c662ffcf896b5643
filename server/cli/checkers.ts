import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { sharedError } from '../../shared/errors.ts';
import { safeJson, safeText } from '../../shared/safe-text.ts';
import { runRow } from '../checkers/checker-store.ts';
import { scheduleRunNow } from '../checkers/run-now.ts';
import { openServerContext } from '../context.ts';
import type { CommandIo } from './io.ts';
import { printTable } from './text-table.ts';

/** How long `run-checker` watches for a running `serve` to send the run, and how often it looks. */
export const RUN_SENT_WAIT = { ms: 2_500, pollMs: 100 };

const short = (iso: string | null) => (iso === null ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));

/** `checker-runs [HOST] [--json]`: checker runs, newest first (at most 1,000). */
export async function checkerRunsCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'checker-runs [HOST] --dir D [--json]';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' }, json: { type: 'boolean', default: false } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  if (positionals.length > 1) throw sharedError('TW_ARGS', `name at most one HOST (usage: ${usage})`);
  const ctx = openServerContext(dir, systemClock);
  try {
    const rows = (await ctx.checkers.list({ host: positionals[0] })).map(runRow);
    if (values.json) {
      io.out(safeJson(rows));
      return 0;
    }
    const head = ['ID', 'HOST', 'CHECKER', 'STATUS', 'SCHEDULED', 'FINISHED', 'ADDED', 'REMOVED', 'CHANGED', 'REASON'];
    const cells = rows.map((r) => [
      r.id,
      r.host,
      r.checker,
      r.status,
      short(r.scheduledAt),
      short(r.finishedAt),
      String(r.added ?? '-'),
      String(r.removed ?? '-'),
      String(r.changed ?? '-'),
      r.reason ?? '',
    ]);
    printTable(io, head, cells);
  } finally {
    await ctx.close();
  }
  return 0;
}

/** `run-checker HOST`: schedules a run of the host's checkers now and says whether a running `serve` sent it. */
export async function runCheckerCommand(argv: string[], io: CommandIo): Promise<number> {
  const usage = 'run-checker HOST --dir D';
  const { values, positionals } = parseCommandArgs(argv, { dir: { type: 'string' } }, usage);
  const dir = requireFlag(values.dir, 'dir', usage);
  if (positionals.length !== 1) throw sharedError('TW_ARGS', `name exactly one HOST (usage: ${usage})`);
  const host = positionals[0]!;
  const ctx = openServerContext(dir, systemClock);
  try {
    const runs = await scheduleRunNow(ctx, host, Date.now());
    for (const r of runs) io.out(`${r.existing ? 'already scheduled' : 'scheduled'} ${r.checker} run ${r.id} on ${safeText(host)}`);
    const deadline = Date.now() + RUN_SENT_WAIT.ms;
    let pending = runs;
    while (pending.length && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, RUN_SENT_WAIT.pollMs));
      const still = [];
      for (const r of pending) if ((await ctx.checkers.get(r.id))?.status === 'scheduled') still.push(r);
      pending = still;
    }
    for (const r of runs) {
      const run = await ctx.checkers.get(r.id);
      if (run?.status === 'scheduled')
        io.out(
          `${r.checker} run ${r.id}: not sent yet (no running serve, or ${safeText(host)} not connected); sent when it connects, until ${new Date(run.deadlineAt).toISOString()}`,
        );
      else io.out(`${r.checker} run ${r.id}: ${run?.status === 'running' ? 'sent' : (run?.status ?? 'gone')}`);
    }
  } finally {
    await ctx.close();
  }
  return 0;
}
