import { ALARM_KINDS, type Severity } from '../../shared/alarm-kinds.ts';
import type { AlarmFilter } from './dashboard-data.ts';

/** The alarm list's filter from its query string; unknown values are dropped. */
export function alarmFilter(q: URLSearchParams): AlarmFilter {
  const kind = q.get('kind') ?? '';
  const sev = q.get('severity') ?? '';
  return {
    host: q.get('host')?.trim() || undefined,
    kind: kind in ALARM_KINDS ? kind : undefined,
    severity: sev === 'critical' || sev === 'warning' ? (sev as Severity) : undefined,
    state: q.get('state') === 'all' ? 'all' : 'open',
    limit: PAGE_SIZE,
    offset: (pageNumber(q) - 1) * PAGE_SIZE,
  };
}

/** Alarms per page on the alarm and host pages. */
export const PAGE_SIZE = 25;

/** The 1-based page asked for; 1 when absent or not a number. */
export function pageNumber(q: URLSearchParams): number {
  const n = Number(q.get('page') ?? '1');
  return Number.isSafeInteger(n) && n >= 1 && n <= 100_000 ? n : 1;
}

/** A decoded path segment; null when it is not valid percent-encoding. */
export function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** A redirect target from a form: our own paths only. */
export function localPath(p: string | null): string {
  return p?.startsWith('/') && !p.startsWith('//') && !p.includes('\\') ? p : '/alarms';
}

/** `path` with `?notice=` set: pages look the code up, they never show it. */
export function withNotice(path: string, notice: string): string {
  const u = new URL(path, 'http://x.invalid');
  u.searchParams.set('notice', notice);
  return u.pathname + u.search;
}
