import { parseCommandArgs, requireFlag } from '../../shared/args.ts';
import { systemClock } from '../../shared/clock.ts';
import { createLogger } from '../../shared/log.ts';
import { isLoopbackHost } from '../dashboard/dashboard-server.ts';
import { ServerApp } from '../server-app.ts';
import type { CommandIo } from './io.ts';

/** `serve`: runs the agent gateway and the dashboard until SIGTERM or SIGINT. */
export async function serveCommand(argv: string[], _io: CommandIo): Promise<number> {
  const usage = 'serve --dir D [--listen HOST:PORT] [--dashboard HOST:PORT]';
  const { values } = parseCommandArgs(argv, { dir: { type: 'string' }, listen: { type: 'string' }, dashboard: { type: 'string' } }, usage);
  const log = createLogger('tripwarden-server');
  const app = new ServerApp({ dir: requireFlag(values.dir, 'dir', usage), listen: values.listen, dashboard: values.dashboard, clock: systemClock, log });
  const addr = await app.start();
  const a = addr.dashboard.address;
  const scheme = isLoopbackHost(a) ? 'http' : 'https';
  const dash = `${scheme}://${a.includes(':') ? `[${a}]` : a}:${addr.dashboard.port}/`;
  log.info({ gateway: `${addr.gateway.address}:${addr.gateway.port}`, dashboard: dash }, 'serving');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('shutting down');
  await app.stop();
  return 0;
}
