/**
 * The server's command line (docs/REFERENCE.md): `npm run -s server -- <command>`.
 */
import { errorLine, sharedError, TwError } from '../shared/errors.ts';
import { VERSION } from '../shared/version.ts';
import { acceptCommand } from './cli/accept.ts';
import { checkerRunsCommand, runCheckerCommand } from './cli/checkers.ts';
import { fleetCommand } from './cli/fleet.ts';
import { groupCommand, groupPortsCommand } from './cli/group.ts';
import { initCommand } from './cli/init.ts';
import { instancesCommand } from './cli/instances.ts';
import { type CommandIo, processIo } from './cli/io.ts';
import { alarmsCommand, hostsCommand } from './cli/listing.ts';
import { ackCommand, maintenanceCommand, revokeCommand } from './cli/operator.ts';
import { reportCommand } from './cli/report.ts';
import { sampleCommand } from './cli/sample.ts';
import { serveCommand } from './cli/serve.ts';
import { testMailCommand } from './cli/test-mail.ts';
import { tokenCommand } from './cli/token.ts';

type Command = (argv: string[], io: CommandIo) => Promise<number>;

/** The command registry: one entry per command, one module per group of commands. */
export const COMMANDS: Record<string, Command> = {
  init: initCommand,
  serve: serveCommand,
  token: tokenCommand,
  hosts: hostsCommand,
  alarms: alarmsCommand,
  revoke: revokeCommand,
  ack: ackCommand,
  maintenance: maintenanceCommand,
  report: reportCommand,
  'test-mail': testMailCommand,
  accept: acceptCommand,
  group: groupCommand,
  sample: sampleCommand,
  'group-ports': groupPortsCommand,
  fleet: fleetCommand,
  'checker-runs': checkerRunsCommand,
  'run-checker': runCheckerCommand,
  instances: instancesCommand,
};

/** Runs one command and returns its exit code; errors become one line on stderr. */
export async function runServerCli(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version') {
    io.out(VERSION);
    return 0;
  }
  const cmd = name ? COMMANDS[name] : undefined;
  try {
    if (!cmd) throw sharedError('TW_ARGS', `${name ? `unknown command "${name}"` : 'no command'}; commands: ${Object.keys(COMMANDS).join(', ')}`);
    return await cmd(rest, io);
  } catch (err) {
    io.err(errorLine('tripwarden-server', err));
    return err instanceof TwError ? err.exitCode : 1;
  }
}

// Files the server creates (keys, database, WAL) are for its user alone.
process.umask(0o077);
process.exitCode = await runServerCli(process.argv.slice(2));
