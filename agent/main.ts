/**
 * The agent's command line (DESIGN.md): `npm run -s agent -- <command>` and
 * the compiled `dist/tripwarden-agent` take the same arguments.
 */
import { parseCommandArgs, requireFlag } from '../shared/args.ts';
import { systemClock } from '../shared/clock.ts';
import { errorLine, sharedError, TwError } from '../shared/errors.ts';
import { createLogger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { enroll } from './identity/enroll.ts';
import { startAgent } from './daemon/runner.ts';
import { checkCommand } from './cli/check.ts';

type Command = (argv: string[]) => Promise<number>;

async function enrollCommand(argv: string[]): Promise<number> {
  const usage = 'enroll --server wss://HOST:PORT --token T --ca-sha256 FP --config C';
  const { values } = parseCommandArgs(argv, {
    server: { type: 'string' }, token: { type: 'string' }, 'ca-sha256': { type: 'string' }, config: { type: 'string' },
  }, usage);
  const r = await enroll({
    server: requireFlag(values.server, 'server', usage),
    token: requireFlag(values.token, 'token', usage),
    caSha256: requireFlag(values['ca-sha256'], 'ca-sha256', usage),
    configPath: requireFlag(values.config, 'config', usage),
  });
  process.stdout.write(`enrolled as ${r.host}\n`);
  return 0;
}

async function runCommand(argv: string[]): Promise<number> {
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

export const COMMANDS: Record<string, Command> = { enroll: enrollCommand, run: runCommand, check: checkCommand };

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const cmd = name ? COMMANDS[name] : undefined;
  try {
    if (!cmd) throw sharedError('TW_ARGS', `${name ? `unknown command "${name}"` : 'no command'}; commands: ${Object.keys(COMMANDS).join(', ')}, --version`);
    return await cmd(rest);
  } catch (err) {
    process.stderr.write(errorLine('tripwarden-agent', err) + '\n');
    return err instanceof TwError ? err.exitCode : 1;
  }
}

// Keys, certificates and the spool are for the agent's user alone.
process.umask(0o077);
// libuv's thread pool (async fs, DNS) starts 4 threads on first use; the agent
// needs 2 (idle: 3 threads and ~1 MiB fewer). Read once, at that first use.
process.env.UV_THREADPOOL_SIZE ??= '2';
// No top-level await: the compiled executable is CommonJS.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
