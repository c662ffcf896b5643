import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { createLogger } from '../../shared/log.ts';
import { VERSION } from '../../shared/version.ts';
import { startAgent } from '../daemon/runner.ts';

/**
 * `run --config C`: the daemon. Runs until SIGTERM or SIGINT, then says
 * goodbye to the server and exits 0.
 */
export async function runCommand(argv: string[]): Promise<number> {
  const usage = 'run --config C';
  const { values } = parseCommandArgs(argv, { config: { type: 'string' } }, usage);
  const log = createLogger('tripwarden-agent');
  const agent = startAgent({ configPath: requireFlag(values.config, 'config', usage), clock: systemClock, log });
  log.info({ version: VERSION, bootId: agent.link.bootId }, 'agent started');
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'stopping');
  await agent.stop(signal);
  return 0;
}
