/**
 * The server's command line (docs/REFERENCE.md): `tripwarden <command>`, built to dist/server/main.js
 * (scripts/build-server.mjs) and run by bin/tripwarden; `npm run -s server -- <command>` runs it from source.
 */
import { errorLine, sharedError, TwError } from '../shared/errors.ts';
import { VERSION } from '../shared/version.ts';
import { type CommandIo, processIo } from './cli/io.ts';

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
    return await (await cmd())(rest, io);
  } catch (err) {
    io.err(errorLine('tripwarden-server', err));
    return err instanceof TwError ? err.exitCode : 1;
  }
}

// Files the server creates (keys, database, WAL) are for its user alone.
process.umask(0o077);
process.exitCode = await runServerCli(process.argv.slice(2));
