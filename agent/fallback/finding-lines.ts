import type { SpoolRecord } from '../../shared/protocol.ts';
import { shortHash } from '../../shared/spool-chain.ts';
import { checkerFindings } from '../checker/checker-lines.ts';
import { type Finding, goneIn, valuesIn } from '../checks/kinds/kind.ts';
import { KINDS } from '../checks/kinds/registry.ts';
import type { FallbackLine } from './sink.ts';

/** Most lines one record gives (an event can carry 2,000 files); the rest is counted in one more line. */
export const MAX_LINES_PER_RECORD = 20;

/** A subject as one token: quoted (JSON) when it has spaces, quotes or control characters. */
const token = (s: string) => (/^[^\s"\\\x00-\x1f\x7f]+$/.test(s) ? s : JSON.stringify(s));

/**
 * The greppable lines for one spooled record: `tripwarden: host=H kind=K
 * subject=S hash=SHORT n=N`, one per finding. Each kind words its own
 * findings (`findings` in `checks/kinds/`); the agent does not judge, so they
 * say what it measured and the server decides against its baseline.
 */
export function findingLines(host: string, rec: SpoolRecord): FallbackLine[] {
  const out: Finding[] = [];
  const b = rec.body;
  if (b.kind === 'event') {
    for (const k of KINDS) out.push(...k.findings(valuesIn(k, b), goneIn(k, b), rec));
    for (const n of b.notes) out.push({ kind: `note-${n.kind}`, subject: n.message, severity: 'warning' });
  } else if (b.kind === 'network-lost') {
    const when = `started=${new Date(b.startedAt).toISOString()}${b.endedAt !== null ? ` ended=${new Date(b.endedAt).toISOString()}` : ''}`;
    out.push({ kind: 'network-lost', subject: b.reasons.join('; ') || 'network lost', severity: 'critical', extra: when });
  } else if (b.kind === 'checker-result') {
    out.push(...checkerFindings(b));
  } else if (b.kind === 'summary') {
    out.push({ kind: 'summary', subject: `${b.count} low-severity records dropped (n ${b.fromN}-${b.toN})`, severity: 'warning' });
  }
  const lines = out.slice(0, MAX_LINES_PER_RECORD).map((f) => ({
    severity: f.severity,
    text: `tripwarden: host=${token(host)} kind=${f.kind} subject=${token(f.subject)} hash=${shortHash(rec.hash)} n=${rec.n}${f.extra ? ` ${f.extra}` : ''}`,
  }));
  if (out.length > MAX_LINES_PER_RECORD) {
    lines.push({
      severity: rec.severity === 'critical' ? 'critical' : 'warning',
      text: `tripwarden: host=${token(host)} kind=more subject=${out.length - MAX_LINES_PER_RECORD}-more-findings hash=${shortHash(rec.hash)} n=${rec.n}`,
    });
  }
  return lines;
}
