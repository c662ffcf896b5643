/**
 * The agent's command line (docs/REFERENCE.md): `npm run -s agent -- <command>` and
 * the compiled `dist/tripwarden-agent` take the same arguments.
 */

import { formatCommandHelp, formatProgramHelp, wantsHelp } from '../shared/cli-help.ts';
import { errorLine, sharedError, TwError } from '../shared/errors.ts';
import { VERSION } from '../shared/version.ts';
import { checkCommand } from './cli/check.ts';
import { enrollCommand } from './cli/enroll.ts';
import { AGENT_HELP } from './cli/help.ts';
import { runCommand } from './cli/run.ts';

const PROG = 'tripwarden-agent';

type Command = (argv: string[]) => Promise<number>;

export const COMMANDS: Record<string, Command> = { enroll: enrollCommand, run: runCommand, check: checkCommand };

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if ((name === '--help' || name === '-h' || name === 'help') && rest[0] === undefined) {
    const help = Object.fromEntries(Object.keys(COMMANDS).map((n) => [n, AGENT_HELP[n]]));
    process.stdout.write(`${formatProgramHelp(PROG, 'Tripwarden agent: watches this host and reports to the server.', help, 'check')}\n`);
    return 0;
  }
  if (name === 'help') return main([rest[0]!, '--help']);
  // A reader that goes away (`check | head`) ends a command quietly, not with an EPIPE stack. Not for
  // `run`: the daemon's stdout is its log.
  if (name !== 'run') process.stdout.on('error', () => {});
  const cmd = name ? COMMANDS[name] : undefined;
  try {
    if (!cmd) throw sharedError('TW_ARGS', name ? `unknown command "${name}" (\`${PROG} --help\` lists the commands)` : `no command (\`${PROG} --help\` lists the commands)`);
    if (wantsHelp(rest)) {
      const help = AGENT_HELP[name!];
      process.stdout.write(`${help ? formatCommandHelp(PROG, help) : `usage: ${PROG} ${name}`}\n`);
      return 0;
    }
    return await cmd(rest);
  } catch (err) {
    process.stderr.write(`${errorLine('tripwarden-agent', err)}\n`);
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
