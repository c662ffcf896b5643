import { readFileSync } from 'node:fs';
import { waitFor } from './wait.ts';

/**
 * Resolves once `findmnt --poll` (pid) sleeps in poll(2): it reads the mount table once before it polls, and a
 * change made before that read is in its first table, never an event. A fixed 300 ms wait for it was too short
 * on a loaded machine (no event at all in one CI run); its kernel wait channel says when it is polling.
 */
export function findmntPolling(pid: number, what = 'findmnt polling the mount table'): Promise<true> {
  return waitFor(
    () => {
      try {
        return /poll/.test(readFileSync(`/proc/${pid}/wchan`, 'utf8')) || undefined;
      } catch {
        return undefined;
      }
    },
    { what, timeoutMs: 30_000, everyMs: 20 },
  );
}
