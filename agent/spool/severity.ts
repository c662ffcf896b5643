import type { RecordBody } from '../../shared/protocol.ts';

/**
 * Whether a record may ever be summarised away when the spool is full:
 * `critical` ones never are. Critical: files of class critical or self, a
 * path gone that was critical (the caller says, through `criticalPath`),
 * any daemon or mount finding, network loss, and summaries themselves.
 */
export function recordSeverity(body: RecordBody, criticalPath: (path: string) => boolean = () => false): 'critical' | 'low' {
  if (body.kind !== 'event') return 'critical';
  if (body.daemons.length || body.mounts.length) return 'critical';
  if (body.files.some((f) => f.class !== 'normal')) return 'critical';
  if (body.gone.some(criticalPath)) return 'critical';
  return 'low';
}
