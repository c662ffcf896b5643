import type { RecordBody } from '../../shared/protocol.ts';
import { goneIn, valuesIn } from '../checks/kinds/kind.ts';
import { KINDS } from '../checks/kinds/registry.ts';

/**
 * Whether a record may ever be summarised away when the spool is full:
 * `critical` ones never are. Network loss, summaries and checker results
 * are critical (a checker's raw output is not); an event is when any of its
 * kinds says so (`critical` in `checks/kinds/`),
 * a vanished path through `criticalPath`, which the caller supplies.
 */
export function recordSeverity(body: RecordBody, criticalPath: (path: string) => boolean = () => false): 'critical' | 'low' {
  // A checker's raw output (up to 1 MiB a run) may go when the spool is full; its result, which carries the entries, never.
  if (body.kind === 'checker-output') return 'low';
  if (body.kind !== 'event') return 'critical';
  return KINDS.some((k) => k.critical(valuesIn(k, body), goneIn(k, body), criticalPath)) ? 'critical' : 'low';
}
