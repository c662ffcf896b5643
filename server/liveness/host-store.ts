import type { HostStatus } from '../../shared/alarm-kinds.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import { deriveStatus, type StatusFields } from './status.ts';

/** A host as stored. Times are ms since the epoch. */
export interface HostRecord extends StatusFields {
  host: string;
  group: string;
  status: HostStatus;
  statusChangedAt: number | null;
  certSerial: string | null;
  certSha256: string | null;
  enrolledAt: number;
  intervalMs: number;
  bootId: string | null;
  lastSeq: number | null;
  connected: boolean;
  agentVersion: string | null;
  facts: unknown;
  sample: boolean;
  /** The accepted hash of the agent's executable (the first one a hello carried), or null. */
  exeSha256?: string | null;
  /** The `serve` instance that holds (or last held) the agent's connection; null before any hello records one. */
  instance: string | null;
}

/** A host row as `hosts --json` prints it (docs/REFERENCE.md names). */
export interface HostView {
  host: string;
  group: string;
  status: HostStatus;
  lastSeen: string | null;
  openAlarms: number;
  interval: number;
  connected: boolean;
  agentVersion: string | null;
  silentFor: number | null;
  sample: boolean;
}

/** A host row as a hello reads it: with the boot whose heartbeats carried the state digest, or null. */
export type HelloRow = HostRecord & { digestBootId: string | null };

/** Maps a database row to a {@link HostRecord}. */
export function toHostRecord(r: Record<string, unknown>): HostRecord {
  return {
    host: r.host as string,
    group: r.grp as string,
    state: r.state as HostRecord['state'],
    status: r.status as HostStatus,
    statusChangedAt: r.status_changed_at as number | null,
    certSerial: r.cert_serial as string | null,
    certSha256: r.cert_sha256 as string | null,
    enrolledAt: r.enrolled_at as number,
    intervalMs: r.interval_ms as number,
    lastSeen: r.last_seen as number | null,
    lateAt: r.late_at as number | null,
    dueAt: r.due_at as number | null,
    bootId: r.boot_id as string | null,
    lastSeq: r.last_seq as number | null,
    connected: r.connected === 1,
    maintenanceUntil: r.maintenance_until as number | null,
    agentVersion: r.agent_version as string | null,
    facts: r.facts ? JSON.parse(r.facts as string) : null,
    sample: r.sample === 1,
    exeSha256: (r.exe_sha256 as string | null | undefined) ?? null,
    instance: (r.instance as string | null | undefined) ?? null,
  };
}

/** Status precedence for listings: the hosts that need a person come first. */
const ORDER: Record<HostStatus, number> = { missing: 0, late: 1, stopped: 2, revoked: 6, pending: 3, maintenance: 4, up: 5 };

/** Certificate serials as Node prints them may differ in case and leading zeros. */
const normSerial = (s: string) => s.replace(/^0+/, '').toUpperCase();

/** Whether a certificate with this serial is the one accepted for the host now (not revoked, not replaced). */
export function acceptsCertificate(rec: Pick<HostRecord, 'state' | 'certSerial'> | undefined, serial: string): boolean {
  return !!rec && rec.state !== 'revoked' && !!rec.certSerial && normSerial(rec.certSerial) === normSerial(serial);
}

/** Reads hosts. Writes that change status go through `Liveness`, which owns the rules. */
export class HostStore {
  constructor(private readonly sql: SqlDb) {}

  /** The host's record, or undefined; inside a transaction pass its `tx` as `q`. */
  async get(host: string, q: Queryable = this.sql): Promise<HostRecord | undefined> {
    const r = await q.get<Record<string, unknown>>('SELECT * FROM hosts WHERE host = ?', [host]);
    return r && toHostRecord(r);
  }

  /**
   * The host row as a hello reads it, with the boot whose heartbeats carried the state digest (table
   * `digest_boots`, written by whichever instance heard that boot first): one read for both.
   */
  async getForHello(host: string, q: Queryable = this.sql): Promise<HelloRow | undefined> {
    const r = await q.get<Record<string, unknown>>('SELECT h.*, d.boot_id AS digest_boot_id FROM hosts h LEFT JOIN digest_boots d ON d.host = h.host WHERE h.host = ?', [host]);
    return r && { ...toHostRecord(r), digestBootId: (r.digest_boot_id as string | null) ?? null };
  }

  /**
   * What the agents' endpoint checks a certificate against ({@link acceptsCertificate}), and no more: at each
   * connection of a reconnect storm, the whole row (its facts parsed) was read only for these two.
   */
  async certificate(host: string): Promise<Pick<HostRecord, 'state' | 'certSerial'> | undefined> {
    const r = await this.sql.get<{ state: HostRecord['state']; certSerial: string | null }>('SELECT state, cert_serial AS "certSerial" FROM hosts WHERE host = ?', [host]);
    return r && { state: r.state, certSerial: r.certSerial };
  }

  async all(): Promise<HostRecord[]> {
    return (await this.sql.all<Record<string, unknown>>('SELECT * FROM hosts ORDER BY host')).map(toHostRecord);
  }

  /** Hosts with their status derived at `now`, silent and late hosts first. */
  async views(now: number): Promise<HostView[]> {
    const open = new Map(
      (await this.sql.all<{ host: string; n: number }>('SELECT host, COUNT(*) AS n FROM alarms WHERE resolved_at IS NULL GROUP BY host')).map((r) => [r.host, r.n]),
    );
    return (await this.all())
      .map((h) => {
        const status = deriveStatus(h, now);
        return {
          host: h.host,
          group: h.group,
          status,
          lastSeen: h.lastSeen === null ? null : new Date(h.lastSeen).toISOString(),
          openAlarms: open.get(h.host) ?? 0,
          interval: h.intervalMs,
          connected: h.connected,
          agentVersion: h.agentVersion,
          silentFor: h.lastSeen === null ? null : Math.max(0, now - h.lastSeen),
          sample: h.sample,
        };
      })
      .sort((a, b) => ORDER[a.status] - ORDER[b.status] || (b.silentFor ?? 0) - (a.silentFor ?? 0) || a.host.localeCompare(b.host));
  }
}
