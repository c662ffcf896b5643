import { readAideConfig } from '../aide-config.ts';
import { type CheckerReport, parseAideJson, parseAideText } from '../aide-report.ts';
import type { CheckerKindImpl, CheckerOutcome, CheckerRunContext } from '../checker-kind.ts';
import { exitStatus } from '../exit-status.ts';

/** Largest report read for parsing, in bytes; a larger one leaves the entries out (the exit code still counts). */
export const MAX_REPORT_BYTES = 64 << 20;

/** The AIDE version the binary states (`AIDE 0.18.3` on stdout), as [major, minor], or null. */
async function aideVersion(ctx: CheckerRunContext, aide: string): Promise<[number, number] | null> {
  let text = '';
  const r = await ctx.exec({ file: aide, args: ['--version'], onData: (s, t) => void (s === 'stdout' && text.length < 4096 && (text += t)) });
  const m = /AIDE\s+v?(\d+)\.(\d+)/.exec(text);
  return r.code === 0 && m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * The argument list of a check: the config, and the report written once more
 * to fd 3 for the agent (`-A` lines come after the config, so they hold
 * whatever it sets), as JSON where the version has it (0.18), at the level
 * that lists entries with their changed attributes (0.17 on).
 */
export function aideArgs(configPath: string, version: [number, number] | null): string[] {
  const atLeast = (minor: number) => version !== null && (version[0] > 0 || version[1] >= minor);
  return [
    '--check',
    `--config=${configPath}`,
    ...(atLeast(17) ? ['-A', 'report_level=changed_attributes'] : []),
    ...(atLeast(18) ? ['-A', 'report_format=json'] : []),
    '-A',
    'report_url=fd:3',
  ];
}

/** AIDE: `aide --check --config=PATH`; its report read as JSON (0.18+) or text. */
export const aideKind: CheckerKindImpl = {
  kind: 'aide',
  binaries: ['aide'],
  configFiles(configPath) {
    const c = readAideConfig(configPath);
    return { files: c.includes, database: c.database };
  },
  async run(ctx): Promise<CheckerOutcome> {
    const aide = ctx.bin.get('aide')!;
    const version = await aideVersion(ctx, aide);
    let report = '';
    let tooBig = false;
    const r = await ctx.exec({
      file: aide,
      args: aideArgs(ctx.configPath, version),
      extraFds: 1,
      onData: (stream, text) => {
        // stdout holds the config's own report_url=stdout copy, if any: the fd 3 report is the one sent and read.
        if (stream === 'stdout') return;
        ctx.output(text);
        if (stream !== 'fd3') return;
        if (report.length + text.length > MAX_REPORT_BYTES) tooBig = true;
        else report += text;
      },
    });
    const base = { exitCode: r.code, added: 0, removed: 0, changed: 0, entries: [], truncated: false };
    if (r.spawnError) return { ...base, status: 'failed', reason: `cannot start aide: ${r.spawnError}` };
    if (r.timedOut) return { ...base, exitCode: null, status: 'failed', reason: 'timed out: the run was killed' };
    if (r.aborted) return { ...base, exitCode: null, status: 'failed', reason: 'the agent stopped: the run was killed' };
    const status = exitStatus(r.code);
    if (r.code === null) return { ...base, status, reason: `aide was killed by ${r.signal ?? 'a signal'}` };
    if (status === 'failed') return { ...base, status, reason: `aide ended with exit code ${r.code} (an error, not findings)` };
    let parsed: CheckerReport | null = null;
    if (!tooBig) parsed = (version && (version[0] > 0 || version[1] >= 18) ? parseAideJson(report) : null) ?? parseAideText(report);
    if (!parsed || (status === 'findings' && parsed.added + parsed.removed + parsed.changed === 0)) {
      return {
        ...base,
        status,
        truncated: status === 'findings',
        reason: tooBig ? 'report too large to read: only the exit code counts' : 'report unreadable: only the exit code counts',
      };
    }
    return { ...base, status, ...parsed };
  },
};
