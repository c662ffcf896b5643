import type { Clock } from '../../shared/clock.ts';
import { serverError } from '../errors.ts';
import type { CommandQueue } from '../storage/command-queue.ts';

/**
 * How long `accept` waits: for a running `serve` to take the request (while no instance holds a live
 * lease; a live but busy one gets the whole `storedMs`), then for the report to be stored.
 */
export interface FreshReportWait {
  takenMs: number;
  storedMs: number;
  pollMs: number;
}

export const FRESH_REPORT_WAIT: FreshReportWait = { takenMs: 3_000, storedMs: 15_000, pollMs: 100 };

/**
 * Asks the running `serve`, through the command queue, for a full report from a host's agent now, and
 * waits until one begun after the request is stored; resolves with the time it was stored. Throws
 * `TW_HOST_OFFLINE` when no `serve` takes the request, the host is not connected, or the report is late.
 */
export async function requestFreshReport(
  commands: CommandQueue,
  host: string,
  clock: Clock,
  wait: FreshReportWait = FRESH_REPORT_WAIT,
  serveLive: () => boolean | Promise<boolean> = () => false,
): Promise<number> {
  const started = clock.now();
  const id = await commands.enqueue('request-report', host, 'operator accept', started);
  const offline = (why: string) => serverError('TW_HOST_OFFLINE', `${host}: ${why}; not accepted (--stale accepts the last report stored)`);
  for (;;) {
    const s = await commands.state(id);
    const waited = clock.now() - started;
    if (s?.result?.startsWith('stored:')) return Number(s.result.slice('stored:'.length));
    if (s?.result === 'offline') throw offline('not connected to the running serve');
    if (!s || (s.doneAt !== null && s.result === null)) throw offline('the request was dropped (serve restarted)');
    // A loaded serve may take its tick late: only when no instance renews its lease is silence a verdict.
    if (s.doneAt === null && waited >= wait.takenMs && !(await serveLive())) throw offline(`no running serve took the request in ${wait.takenMs / 1000}s`);
    if (waited >= wait.storedMs) throw offline(`no fresh report stored in ${wait.storedMs / 1000}s`);
    await new Promise<void>((resolve) => clock.setTimeout(resolve, wait.pollMs));
  }
}
