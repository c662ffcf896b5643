import type { HostStatus, Severity } from '../shared/alarm-kinds.ts';
import type { Db } from './db.ts';
import type { HostStore } from './host-store.ts';

/** Where a host lands in the report: the ones needing a person first. */
export type ReportSection = 'errors' | 'critical' | 'warnings' | 'quiet';
export const REPORT_SECTIONS: readonly ReportSection[] = ['errors', 'critical', 'warnings', 'quiet'];

export interface ReportAlarm {
  id: number;
  kind: string;
  severity: Severity;
  subject: string;
  openedAt: number;
  resolvedAt: number | null;
  ackedAt: number | null;
}

export interface ReportHost {
  host: string;
  group: string;
  status: HostStatus;
  lastSeen: number | null;
  /** Heartbeats received in the window (from the per-minute rollup). */
  beats: number;
  /** Alarms open now or opened in the window, newest first. */
  alarms: ReportAlarm[];
}

/** The report: every enrolled host, in exactly one section. Times are ms since the epoch. */
export interface Report {
  since: number;
  until: number;
  sections: Record<ReportSection, ReportHost[]>;
  totals: { hosts: number; alarmsOpened: number; openNow: number };
}

/** Statuses that are an error in themselves, whatever the alarms say. */
const ERROR_STATUSES: ReadonlySet<HostStatus> = new Set(['missing', 'late', 'stopped']);
const LIVENESS_KINDS = new Set(['agent-missing', 'agent-stopped', 'agent-disconnected']);

/**
 * Builds the report for `[since, until]`: every host accounted for, so a
 * quiet host shows as quiet (with its heartbeat count) rather than being
 * left out. Errors (missing, late, stopped, or open liveness alarms) come
 * first, then hosts with critical alarms, then warnings, then quiet hosts.
 */
export function buildReport(db: Db, hosts: HostStore, since: number, until: number): Report {
  const views = hosts.views(until);
  const alarmRows = db
    .prepare(
      `SELECT id, host, kind, severity, subject, opened_at, resolved_at, acked_at FROM alarms
       WHERE (opened_at >= ? AND opened_at <= ?) OR resolved_at IS NULL OR resolved_at >= ? ORDER BY id DESC`,
    )
    .all(since, until, since) as Record<string, unknown>[];
  const byHost = new Map<string, ReportAlarm[]>();
  for (const r of alarmRows) {
    const list = byHost.get(r.host as string) ?? [];
    list.push({
      id: r.id as number, kind: r.kind as string, severity: r.severity as Severity, subject: r.subject as string,
      openedAt: r.opened_at as number, resolvedAt: r.resolved_at as number | null, ackedAt: r.acked_at as number | null,
    });
    byHost.set(r.host as string, list);
  }
  const beats = new Map(
    // Through hosts, so each host's range is read on the (host, minute) key instead of scanning the whole rollup.
    (db.prepare('SELECT m.host, SUM(m.beats) AS n FROM hosts h CROSS JOIN heartbeat_minutes m ON m.host = h.host AND m.minute >= ? AND m.minute <= ? GROUP BY m.host')
      .all(Math.floor(since / 60_000), Math.floor(until / 60_000)) as { host: string; n: number }[]).map((r) => [r.host, r.n]),
  );
  const sections: Record<ReportSection, ReportHost[]> = { errors: [], critical: [], warnings: [], quiet: [] };
  for (const v of views) {
    const alarms = byHost.get(v.host) ?? [];
    const entry: ReportHost = {
      host: v.host, group: v.group, status: v.status, lastSeen: v.lastSeen === null ? null : Date.parse(v.lastSeen),
      beats: beats.get(v.host) ?? 0, alarms,
    };
    const openLiveness = alarms.some((a) => a.resolvedAt === null && LIVENESS_KINDS.has(a.kind));
    if (ERROR_STATUSES.has(v.status) || openLiveness) sections.errors.push(entry);
    else if (alarms.some((a) => a.severity === 'critical')) sections.critical.push(entry);
    else if (alarms.length > 0) sections.warnings.push(entry);
    else sections.quiet.push(entry);
  }
  return {
    since,
    until,
    sections,
    totals: {
      hosts: views.length,
      alarmsOpened: alarmRows.filter((a) => (a.opened_at as number) >= since && (a.opened_at as number) <= until).length,
      openNow: alarmRows.filter((a) => a.resolved_at === null).length,
    },
  };
}
