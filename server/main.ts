/**
 * The server's command line (docs/REFERENCE.md): `tripwarden <command>`, built to dist/server/main.js
 * (scripts/build-server.mjs) and run by bin/tripwarden; `npm run -s server -- <command>` runs it from source.
 */

import { formatCommandHelp, formatProgramHelp, wantsHelp } from '../shared/cli-help.ts';
import { errorLine, sharedError, TwError } from '../shared/errors.ts';
import { VERSION } from '../shared/version.ts';
import { SERVER_HELP } from './cli/help.ts';
import { type CommandIo, processIo } from './cli/io.ts';

/** The name the server package installs the command line under (bin/tripwarden in a checkout). */
const PROG = 'tripwarden';

type Command = (argv: string[], io: CommandIo) => Promise<number>;

/**
 * The command registry: one entry per command, one module per group of commands. Each is loaded when
 * it runs, so a quick command (`hosts`) does not first load the mailer, the gateway and the dashboard.
 */
export const COMMANDS: Record<string, () => Promise<Command>> = {
  init: async () => (await import('./cli/init.ts')).initCommand,
  serve: async () => (await import('./cli/serve.ts')).serveCommand,
  token: async () => (await import('./cli/token.ts')).tokenCommand,
  hosts: async () => (await import('./cli/listing.ts')).hostsCommand,
  alarms: async () => (await import('./cli/listing.ts')).alarmsCommand,
  revoke: async () => (await import('./cli/operator.ts')).revokeCommand,
  ack: async () => (await import('./cli/operator.ts')).ackCommand,
  maintenance: async () => (await import('./cli/operator.ts')).maintenanceCommand,
  report: async () => (await import('./cli/report.ts')).reportCommand,
  'test-mail': async () => (await import('./cli/test-mail.ts')).testMailCommand,
  accept: async () => (await import('./cli/accept.ts')).acceptCommand,
  group: async () => (await import('./cli/group.ts')).groupCommand,
  sample: async () => (await import('./cli/sample.ts')).sampleCommand,
  'group-ports': async () => (await import('./cli/group.ts')).groupPortsCommand,
  fleet: async () => (await import('./cli/fleet.ts')).fleetCommand,
  'server-cert': async () => (await import('./cli/server-cert.ts')).serverCertCommand,
};

/** Prints a command's usage with its examples; exit 0. */
function commandHelp(name: string, io: CommandIo): number {
  const help = SERVER_HELP[name];
  io.out(help ? formatCommandHelp(PROG, help) : `usage: ${PROG} ${name} --dir D`);
  return 0;
}

/** Runs one command and returns its exit code; errors become one line on stderr. */
export async function runServerCli(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version') {
    io.out(VERSION);
    return 0;
  }
  if ((name === '--help' || name === '-h' || name === 'help') && rest[0] === undefined) {
    const help = Object.fromEntries(Object.keys(COMMANDS).map((n) => [n, SERVER_HELP[n]]));
    io.out(formatProgramHelp(PROG, 'Tripwarden server: the CA, the baselines, the alarms. Every command but --version takes the data dir --dir D.', help, 'hosts'));
    return 0;
  }
  if (name === 'help') return runServerCli([rest[0]!, '--help'], io);
  const cmd = name ? COMMANDS[name] : undefined;
  try {
    if (!cmd) throw sharedError('TW_ARGS', name ? `unknown command "${name}" (\`${PROG} --help\` lists the commands)` : `no command (\`${PROG} --help\` lists the commands)`);
    if (wantsHelp(rest)) return commandHelp(name!, io);
    return await (await cmd())(rest, io);
  } catch (err) {
    io.err(errorLine('tripwarden-server', err));
    return err instanceof TwError ? err.exitCode : 1;
  }
}

// Files the server creates (keys, database, WAL) are for its user alone.
process.umask(0o077);
process.exitCode = await runServerCli(process.argv.slice(2));
