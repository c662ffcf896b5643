import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { silentLogger } from '../../shared/log.ts';
import { guardCheckerFiles } from '../checker/guard-checker-files.ts';
import { loadAgentConfig } from '../config.ts';
import { agentError } from '../errors.ts';
import { createChecks, REPORTED_STATE_FILE } from '../monitor/check-runner.ts';
import { describeDifferences } from '../monitor/delta.ts';
import { MeasuredState } from '../monitor/measured-state.ts';

/**
 * `check --config C [--json]`: one cycle of every check, here and now, and
 * the findings against the state the agent last reported to the server
 * (kept in the state dir). Exit 1 when anything differs, 0 when nothing does.
 */
export async function checkCommand(argv: string[]): Promise<number> {
  const usage = 'check --config C [--json]';
  const { values } = parseCommandArgs(argv, { config: { type: 'string' }, json: { type: 'boolean' } }, usage);
  const configPath = requireFlag(values.config, 'config', usage);
  // The checker's files are guarded like the running agent guards them.
  const cfg = guardCheckerFiles(loadAgentConfig(configPath));
  const statePath = join(cfg.stateDir, REPORTED_STATE_FILE);
  let before = new MeasuredState();
  const haveReported = existsSync(statePath);
  if (haveReported) {
    try {
      before = MeasuredState.fromJSON(JSON.parse(readFileSync(statePath, 'utf8')));
    } catch (err) {
      throw agentError('TW_STATE_UNREADABLE', `${statePath} cannot be read (${(err as Error).message})`);
    }
  }
  const { checks, hasher } = await createChecks({ cfg, configPath, clock: systemClock, log: silentLogger() }, false);
  const now = new MeasuredState();
  try {
    for (const c of checks) for (const it of await c.measure()) now.set(it.kind, it.key, it.value);
  } finally {
    await hasher.close();
  }
  const findings = describeDifferences(before, now);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ reportedState: haveReported ? statePath : null, items: now.size, digest: now.digest(), findings }, null, 2)}\n`);
  } else {
    if (!haveReported) process.stdout.write(`no reported state in ${cfg.stateDir} yet: every file counts as added\n`);
    for (const f of findings) process.stdout.write(`${f.kind}\t${f.subject}${f.detail ? `\t${f.detail}` : ''}\n`);
    process.stdout.write(`${findings.length} finding(s) over ${now.size} item(s)\n`);
  }
  return findings.length ? 1 : 0;
}
