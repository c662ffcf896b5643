import type { SpoolRecord } from '../../shared/protocol.ts';
import { shortHash } from '../../shared/spool-chain.ts';
import type { FallbackLine } from './sink.ts';

/** Most lines one record gives (an event can carry 2,000 files); the rest is counted in one more line. */
export const MAX_LINES_PER_RECORD = 20;

/** A subject as one token: quoted (JSON) when it has spaces, quotes or control characters. */
const token = (s: string) => (/^[^\s"\\\x00-\x1f\x7f]+$/.test(s) ? s : JSON.stringify(s));

/**
 * The greppable lines for one spooled record: `tripwarden: host=H kind=K
 * subject=S hash=SHORT n=N`, one per finding. The agent does not judge, so
 * the kinds say what it measured (a file entry is `file-changed` whether it is
 * new or changed; the server decides against its baseline).
 */
export function findingLines(host: string, rec: SpoolRecord): FallbackLine[] {
  const out: { kind: string; subject: string; severity: 'critical' | 'warning'; extra?: string }[] = [];
  const b = rec.body;
  if (b.kind === 'event') {
    for (const d of b.daemons) out.push({ kind: d.status === 'up' ? 'daemon-up' : d.status === 'down' ? 'daemon-down' : 'daemon-exe-mismatch', subject: d.name, severity: d.status === 'up' ? 'warning' : 'critical' });
    for (const m of b.mounts) out.push({ kind: m.state === 'ro' ? 'mount-ro' : 'mount-writable', subject: m.path, severity: m.state === 'ro' ? 'warning' : 'critical', extra: `state=${m.state}` });
    for (const f of b.files) out.push({ kind: 'file-changed', subject: f.path, severity: f.class === 'normal' ? 'warning' : 'critical', extra: f.sha256 ? `sha256=${shortHash(f.sha256)}` : `type=${f.type}` });
    for (const g of b.gone) out.push({ kind: 'file-missing', subject: g, severity: rec.severity === 'critical' ? 'critical' : 'warning' });
    for (const n of b.notes) out.push({ kind: `note-${n.kind}`, subject: n.message, severity: 'warning' });
  } else if (b.kind === 'network-lost') {
    const when = `started=${new Date(b.startedAt).toISOString()}${b.endedAt !== null ? ` ended=${new Date(b.endedAt).toISOString()}` : ''}`;
    out.push({ kind: 'network-lost', subject: b.reasons.join('; ') || 'network lost', severity: 'critical', extra: when });
  } else {
    out.push({ kind: 'summary', subject: `${b.count} low-severity records dropped (n ${b.fromN}-${b.toN})`, severity: 'warning' });
  }
  const lines = out.slice(0, MAX_LINES_PER_RECORD).map((f) => ({
    severity: f.severity,
    text: `tripwarden: host=${token(host)} kind=${f.kind} subject=${token(f.subject)} hash=${shortHash(rec.hash)} n=${rec.n}${f.extra ? ' ' + f.extra : ''}`,
  }));
  if (out.length > MAX_LINES_PER_RECORD) {
    lines.push({ severity: rec.severity === 'critical' ? 'critical' : 'warning', text: `tripwarden: host=${token(host)} kind=more subject=${out.length - MAX_LINES_PER_RECORD}-more-findings hash=${shortHash(rec.hash)} n=${rec.n}` });
  }
  return lines;
}
