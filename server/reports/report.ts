import type { HostStatus, Severity } from '../../shared/alarm-kinds.ts';
import { buildCheckerSection, type CheckerReportRow } from '../checkers/checker-report.ts';
import type { HostStore } from '../liveness/host-store.ts';
import type { SqlDb } from '../storage/engine.ts';

/** Where a host lands in the report: the ones needing a person first. */
export type ReportSection = 'errors' | 'critical' | 'expected' | 'warnings' | 'quiet';
/** `expected`: hosts whose only alarms are changes to content a sample host of their group accepted. */
export const REPORT_SECTIONS: readonly ReportSection[] = ['errors', 'critical', 'expected', 'warnings', 'quiet'];

export interface ReportAlarm {
  id: number;
  kind: string;
  severity: Severity;
  subject: string;
  openedAt: number;
  resolvedAt: number | null;
  ackedAt: number | null;
  /** The sample host whose accepted content this change matches, or null. */
  expectedFrom: string | null;
  /** The changed content matches no other host of the group. */
  outlier: boolean;
}

/** Expected changes folded: one per group and path, with every host that took the sample's content. */
export interface ExpectedFold {
  group: string;
  path: string;
  kind: string;
  samples: string[];
  hosts: string[];
  /** How many of those alarms are still open. */
  open: number;
}

/** One group's share of the report: its hosts by section and its folded expected changes. */
export interface ReportGroup {
  group: string;
  sections: Record<ReportSection, ReportHost[]>;
  expected: ExpectedFold[];
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
  /** The same hosts, group by group (sorted by group name), with expected changes folded per path. */
  groups: ReportGroup[];
  /**
   * `openNow` and `openCritical` count every open alarm (as `alarms --open` lists them), wherever its
   * host is listed: a host whose agent is silent sits under errors even with a critical change open.
   */
  totals: { hosts: number; alarmsOpened: number; openNow: number; openCritical: number };
  /** Every host's declared checker (AIDE, Tripwire): failed, missed or refused first, then critical findings, then the rest. */
  checkers: CheckerReportRow[];
}

const emptySections = (): Record<ReportSection, ReportHost[]> => ({ errors: [], critical: [], expected: [], warnings: [], quiet: [] });

/** Statuses that are an error in themselves, whatever the alarms say. */
const ERROR_STATUSES: ReadonlySet<HostStatus> = new Set(['missing', 'late', 'stopped']);
const LIVENESS_KINDS = new Set(['agent-missing', 'agent-stopped', 'agent-disconnected']);

/** An open critical alarm that is a change on the host, not about its agent's liveness: what "Critical changes" counts. */
export function isOpenCriticalChange(a: ReportAlarm): boolean {
  return a.resolvedAt === null && a.severity === 'critical' && a.expectedFrom === null && !LIVENESS_KINDS.has(a.kind);
}

/**
 * Builds the report for `[since, until]`: every host accounted for, so a
 * quiet host shows as quiet (with its heartbeat count) rather than being
 * left out. Errors (missing, late, stopped, or open liveness alarms) come
 * first, then hosts with critical alarms, then hosts whose only alarms are
 * expected changes (a sample of their group has that content; folded per
 * path), then warnings, then quiet hosts. An expected alarm never makes a
 * host critical: that is what keeps a fleet-wide upgrade from hiding an intrusion.
 */
export async function buildReport(sql: SqlDb, hosts: HostStore, since: number, until: number): Promise<Report> {
  const views = await hosts.views(until);
  // The detail is parsed here: json_extract is SQLite's alone.
  const alarmRows = await sql.all(
    `SELECT id, host, kind, severity, subject, opened_at, resolved_at, acked_at, detail FROM alarms
     WHERE (opened_at >= ? AND opened_at <= ?) OR resolved_at IS NULL OR resolved_at >= ? ORDER BY id DESC`,
    [since, until, since],
  );
  const byHost = new Map<string, ReportAlarm[]>();
  for (const r of alarmRows) {
    const list = byHost.get(r.host as string) ?? [];
    const detail = parseDetail(r.detail as string | null);
    list.push({
      id: r.id as number,
      kind: r.kind as string,
      severity: r.severity as Severity,
      subject: r.subject as string,
      openedAt: r.opened_at as number,
      resolvedAt: r.resolved_at as number | null,
      ackedAt: r.acked_at as number | null,
      expectedFrom: typeof detail?.expected?.sample === 'string' ? detail.expected.sample : null,
      outlier: detail?.fleet?.outlier === true || detail?.fleet?.outlier === 1,
    });
    byHost.set(r.host as string, list);
  }
  // Through hosts, so each host's range is read on the (host, minute) key instead of scanning the whole rollup.
  // CROSS JOIN is how SQLite is told that join order; PostgreSQL takes no ON with it, and plans the order itself.
  const join = sql.engine === 'sqlite' ? 'CROSS JOIN' : 'JOIN';
  const beats = new Map(
    (
      await sql.all<{ host: string; n: number }>(
        `SELECT m.host, SUM(m.beats) AS n FROM hosts h ${join} heartbeat_minutes m ON m.host = h.host AND m.minute >= ? AND m.minute <= ? GROUP BY m.host`,
        [Math.floor(since / 60_000), Math.floor(until / 60_000)],
      )
    ).map((r) => [r.host, r.n]),
  );
  const sections = emptySections();
  const groups = new Map<string, ReportGroup>();
  const groupOf = (name: string) => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { group: name, sections: emptySections(), expected: [] }));
    return g;
  };
  // Fold first: one line per group and path, with the hosts that took a sample's content.
  for (const v of views) {
    for (const a of byHost.get(v.host) ?? []) {
      if (a.expectedFrom === null) continue;
      const g = groupOf(v.group);
      let f = g.expected.find((x) => x.path === a.subject && x.kind === a.kind);
      if (!f) g.expected.push((f = { group: v.group, path: a.subject, kind: a.kind, samples: [], hosts: [], open: 0 }));
      if (!f.hosts.includes(v.host)) f.hosts.push(v.host);
      if (!f.samples.includes(a.expectedFrom)) f.samples.push(a.expectedFrom);
      if (a.resolvedAt === null) f.open++;
    }
  }
  // A sample's own change, once accepted (resolved) and taken by other hosts, is the reviewed
  // upgrade those hosts were matched against: it belongs to the fold, not among critical changes.
  const folded = (v: { group: string; host: string; sample: boolean }, a: ReportAlarm) =>
    a.expectedFrom !== null || (v.sample && a.resolvedAt !== null && (groups.get(v.group)?.expected.some((f) => f.path === a.subject && f.samples.includes(v.host)) ?? false));
  for (const v of views) {
    const alarms = byHost.get(v.host) ?? [];
    const entry: ReportHost = {
      host: v.host,
      group: v.group,
      status: v.status,
      lastSeen: v.lastSeen === null ? null : Date.parse(v.lastSeen),
      beats: beats.get(v.host) ?? 0,
      alarms,
    };
    const openLiveness = alarms.some((a) => a.resolvedAt === null && LIVENESS_KINDS.has(a.kind));
    const others = alarms.filter((a) => !folded(v, a));
    const section: ReportSection =
      ERROR_STATUSES.has(v.status) || openLiveness
        ? 'errors'
        : others.some((a) => a.severity === 'critical')
          ? 'critical'
          : others.length > 0
            ? 'warnings'
            : alarms.length > 0
              ? 'expected'
              : 'quiet';
    sections[section].push(entry);
    groupOf(v.group).sections[section].push(entry);
  }
  for (const g of groups.values()) {
    g.expected.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const f of g.expected) {
      f.hosts.sort();
      f.samples.sort();
    }
  }
  return {
    since,
    until,
    sections,
    groups: [...groups.values()].sort((a, b) => a.group.localeCompare(b.group)),
    totals: {
      hosts: views.length,
      alarmsOpened: alarmRows.filter((a) => (a.opened_at as number) >= since && (a.opened_at as number) <= until).length,
      openNow: alarmRows.filter((a) => a.resolved_at === null).length,
      openCritical: alarmRows.filter((a) => a.resolved_at === null && a.severity === 'critical').length,
    },
    checkers: await buildCheckerSection(sql, since, until),
  };
}

/** The parts of an alarm's detail the report reads; anything else (or text that is not JSON) reads as nothing. */
interface ReportDetail {
  expected?: { sample?: unknown };
  fleet?: { outlier?: unknown };
}

function parseDetail(text: string | null): ReportDetail | null {
  if (!text) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' ? (v as ReportDetail) : null;
  } catch {
    return null;
  }
}
