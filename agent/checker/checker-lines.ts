import type { CheckerResultBody } from '../../shared/checker-messages.ts';
import type { Finding } from '../checks/kinds/kind.ts';

const short = (h: string | null) => (h ? h.slice(0, 12) : 'none');
const quoted = (s: string) => (/^[^\s"\\\x00-\x1f\x7f]+$/.test(s) ? s : JSON.stringify(s));

/**
 * The fallback findings of a checker result: nothing for `ok`; for
 * `findings` a summary, then each entry (`checker-added`, `checker-removed`,
 * `checker-changed` with its attributes); for `refused` each file that
 * differed with both hashes; for `failed` the reason. All critical: a host
 * whose checker finds, refuses or fails while the server cannot hear it is
 * the case the fallback exists for.
 */
export function checkerFindings(b: CheckerResultBody): Finding[] {
  if (b.status === 'ok') return [];
  const out: Finding[] = [];
  const run = `checker=${b.checker} run=${b.runId}`;
  if (b.status === 'findings') {
    out.push({ kind: 'checker-findings', subject: b.checker, severity: 'critical', extra: `added=${b.added} removed=${b.removed} changed=${b.changed} run=${b.runId}` });
    for (const e of b.entries) {
      out.push({ kind: `checker-${e.change}`, subject: e.path, severity: 'critical', extra: `${run}${e.attrs.length ? ` attrs=${e.attrs.join(',')}` : ''}` });
    }
  } else if (b.status === 'refused') {
    out.push({ kind: 'checker-refused', subject: b.checker, severity: 'critical', extra: `files=${b.refused?.length ?? 0} run=${b.runId}` });
    for (const f of b.refused ?? [])
      out.push({ kind: 'checker-refused-file', subject: f.path, severity: 'critical', extra: `${run} expected=${short(f.expected)} actual=${short(f.actual)}` });
  } else {
    out.push({
      kind: 'checker-failed',
      subject: b.checker,
      severity: 'critical',
      extra: `exit=${b.exitCode ?? 'none'} run=${b.runId}${b.reason ? ` reason=${quoted(b.reason)}` : ''}`,
    });
  }
  return out;
}
