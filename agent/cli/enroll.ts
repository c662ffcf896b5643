import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { enroll } from '../identity/enroll.ts';

/**
 * `enroll --server wss://HOST:PORT --token T --ca-sha256 FP --config C`: takes
 * a certificate from the server with a one-time token and keeps it in the
 * state dir. Prints the host name the server knows the agent by; exit 0.
 */
export async function enrollCommand(argv: string[]): Promise<number> {
  const usage = 'enroll --server wss://HOST:PORT --token T --ca-sha256 FP --config C';
  const { values } = parseCommandArgs(
    argv,
    {
      server: { type: 'string' },
      token: { type: 'string' },
      'ca-sha256': { type: 'string' },
      config: { type: 'string' },
    },
    usage,
  );
  const r = await enroll({
    server: requireFlag(values.server, 'server', usage),
    token: requireFlag(values.token, 'token', usage),
    caSha256: requireFlag(values['ca-sha256'], 'ca-sha256', usage),
    configPath: requireFlag(values.config, 'config', usage),
  });
  process.stdout.write(`enrolled as ${r.host}\n`);
  return 0;
}
