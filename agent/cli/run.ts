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
  // Handlers first: a SIGTERM that arrives while the agent starts (systemd stopping it at once, or a test
  // that signals on 'agent started') must stop it cleanly, never kill it with the default action.
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const agent = startAgent({ configPath: requireFlag(values.config, 'config', usage), clock: systemClock, log });
  log.info({ version: VERSION, bootId: agent.link.bootId }, 'agent started');
  // The last net, not the fix: every loop and callback handles its own errors. One that slips through is
  // logged and told to the server, and the agent carries on: an intruder must not be able to stop it by
  // provoking an error (deleting its state while it runs, say).
  const escaped = (what: string) => (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    log.error({ err: message, stack: err instanceof Error ? err.stack : undefined }, `${what}; carrying on`);
    try {
      agent.spool.submit({ kind: 'event', files: [], gone: [], daemons: [], mounts: [], notes: [{ kind: 'watcher-error', message: `${what}: ${message}`.slice(0, 300) }] });
    } catch {
      /* logged above */
    }
  };
  process.on('uncaughtException', escaped('uncaught exception'));
  process.on('unhandledRejection', escaped('unhandled rejection'));
  const signal = await stopSignal;
  log.info({ signal }, 'stopping');
  await agent.stop(signal);
  return 0;
}
