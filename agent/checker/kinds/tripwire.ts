import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckerKindImpl, CheckerOutcome, CheckerRunContext } from '../checker-kind.ts';
import { exitStatus } from '../exit-status.ts';
import { conventionalTripwireFiles, parseTripwireConfig } from '../tripwire-config.ts';
import { parseTripwireReport } from '../tripwire-report.ts';
import { MAX_REPORT_BYTES } from './aide.ts';

/** Runs a program and keeps its stdout (up to `max` bytes); stderr goes to the run's output. */
async function capture(ctx: CheckerRunContext, file: string, args: string[], max: number, show: boolean) {
  let out = '';
  let tooBig = false;
  const r = await ctx.exec({
    file,
    args,
    onData: (s, t) => {
      if (s === 'stderr' || show) ctx.output(t);
      if (s !== 'stdout') return;
      if (out.length + t.length > max) tooBig = true;
      else out += t;
    },
  });
  return { r, out, tooBig };
}

/**
 * Tripwire: the config (`tw.cfg`, signed) is read with `twadmin
 * --print-cfgfile` once the binaries and the config hashed as expected; the
 * policy, database and keys it names are hashed next; then `tripwire --check`
 * writes its report into the run's private directory and `twprint` prints it
 * at level 3, which is what is sent and read.
 */
export const tripwireKind: CheckerKindImpl = {
  kind: 'tripwire',
  binaries: ['tripwire', 'twadmin', 'twprint'],
  configFiles(configPath) {
    const c = conventionalTripwireFiles(configPath);
    const present = (p: string | null) => (p && existsSync(p) ? p : null);
    return { files: [c.polfile, c.sitekey, c.localkey].map(present).filter((p): p is string => p !== null), database: present(c.dbfile) };
  },
  async run(ctx): Promise<CheckerOutcome> {
    const base = { exitCode: null, added: 0, removed: 0, changed: 0, entries: [], truncated: false };
    const failed = (reason: string, exitCode: number | null = null): CheckerOutcome => ({ ...base, exitCode, status: 'failed', reason });
    const cfgText = await capture(ctx, ctx.bin.get('twadmin')!, ['--print-cfgfile', '--cfgfile', ctx.configPath], 1 << 16, false);
    if (cfgText.r.timedOut || cfgText.r.aborted) return failed('timed out reading the config with twadmin: the run was killed');
    if (cfgText.r.code !== 0) return failed(`twadmin cannot read ${ctx.configPath} (${cfgText.r.spawnError ?? `exit code ${cfgText.r.code}`})`);
    const cfg = parseTripwireConfig(cfgText.out);
    if (!cfg.polfile || !cfg.dbfile) return failed(`${ctx.configPath} names no absolute POLFILE and DBFILE`);
    const named = [cfg.polfile, cfg.dbfile, cfg.sitekey, cfg.localkey].filter((p): p is string => p !== null);
    const refused = await ctx.verify(named);
    if (refused.length) {
      const reason = `${refused.length} file(s) the config names differ from the server's hashes: nothing ran`;
      return { ...base, status: 'refused', database: cfg.dbfile, refused, reason, extraFiles: named };
    }
    const twr = join(ctx.tmpDir, 'report.twr');
    const keys = [...(cfg.sitekey ? ['--site-keyfile', cfg.sitekey] : []), ...(cfg.localkey ? ['--local-keyfile', cfg.localkey] : [])];
    const check = await ctx.exec({
      file: ctx.bin.get('tripwire')!,
      args: ['--check', '--cfgfile', ctx.configPath, '--polfile', cfg.polfile, '--dbfile', cfg.dbfile, ...keys, '--twrfile', twr, '--no-tty-output'],
      onData: (_s, t) => ctx.output(t),
    });
    const db = { database: cfg.dbfile, extraFiles: named };
    if (check.spawnError) return { ...failed(`cannot start tripwire: ${check.spawnError}`), ...db };
    if (check.timedOut) return { ...failed('timed out: the run was killed'), ...db };
    if (check.aborted) return { ...failed('the agent stopped: the run was killed'), ...db };
    if (check.code === null) return { ...failed(`tripwire was killed by ${check.signal ?? 'a signal'}`), ...db };
    const status = exitStatus(check.code);
    if (!existsSync(twr)) return { ...failed(`tripwire ended with exit code ${check.code} and wrote no report`, check.code), ...db };
    const local = cfg.localkey ? ['--local-keyfile', cfg.localkey] : [];
    const printed = await capture(
      ctx,
      ctx.bin.get('twprint')!,
      ['--print-report', '--cfgfile', ctx.configPath, ...local, '--twrfile', twr, '--report-level', '3'],
      MAX_REPORT_BYTES,
      true,
    );
    const report = printed.r.code === 0 && !printed.tooBig ? parseTripwireReport(printed.out) : null;
    const out: CheckerOutcome = { ...base, ...(report ?? {}), ...db, exitCode: check.code, status };
    if (status === 'failed')
      out.reason = `tripwire ended with exit code ${check.code} (an error${report && report.added + report.removed + report.changed ? '; the report is attached' : ''})`;
    else if (!report)
      Object.assign(out, {
        truncated: status === 'findings',
        reason: printed.tooBig ? 'report too large to read: only the exit code counts' : 'twprint could not print the report: only the exit code counts',
      });
    return out;
  },
};
