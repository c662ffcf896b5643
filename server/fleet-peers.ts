import type { FileEntry } from '../shared/protocol.ts';
import type { Db } from './db.ts';
import type { PeerState } from './sample-match.ts';

/** A host's place in the fleet: its group and whether it is a sample. */
export interface HostPlace { group: string; sample: boolean }

/**
 * The database side of sample matching: a host's group, the other hosts of
 * the group with their state of one path, and per-group settings. Each call
 * reads the database, so `group` and `sample` run from the CLI take effect
 * on the next judgement in a running `serve` (nothing is cached).
 */
export class GroupPeers {
  private readonly placeStmt;
  private readonly peersStmt;
  private readonly portAlarmsStmt;

  constructor(db: Db) {
    this.placeStmt = db.prepare('SELECT grp, sample FROM hosts WHERE host = ?');
    // Revoked hosts say nothing about what the group should look like.
    this.peersStmt = db.prepare(
      `SELECT h.host AS host, h.sample AS sample, m.baseline AS baseline, m.current AS current
       FROM hosts h JOIN measured m ON m.host = h.host AND m.kind = 'file' AND m.key = ?
       WHERE h.grp = ? AND h.host != ? AND h.state != 'revoked'`,
    );
    this.portAlarmsStmt = db.prepare('SELECT port_alarms FROM group_settings WHERE grp = ?').pluck();
  }

  place(host: string): HostPlace {
    const r = this.placeStmt.get(host) as { grp: string; sample: number } | undefined;
    return { group: r?.grp ?? 'default', sample: r?.sample === 1 };
  }

  /** The other hosts of `group` that have a row for `path`, with baseline and current parsed. */
  peers(group: string, host: string, path: string): PeerState[] {
    return (this.peersStmt.all(path, group, host) as { host: string; sample: number; baseline: string | null; current: string | null }[]).map((r) => ({
      host: r.host,
      sample: r.sample === 1,
      baseline: r.baseline === null ? null : (JSON.parse(r.baseline) as FileEntry),
      current: r.current === null ? null : (JSON.parse(r.current) as FileEntry),
    }));
  }

  /** Whether a new listener opens `port-opened` on hosts of this group (on unless `group-ports G off`). */
  portAlarms(group: string): boolean {
    const v = this.portAlarmsStmt.get(group) as number | undefined;
    return v === undefined || v === 1;
  }
}
