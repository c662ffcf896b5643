import type { FileEntry } from '../shared/protocol.ts';
import type { Db } from './db.ts';
import type { PeerState } from './sample-match.ts';

interface PeerRow { host: string; sample: number; baseline: string | null; current: string | null }

const parsePeer = (r: PeerRow): PeerState => ({
  host: r.host,
  sample: r.sample === 1,
  baseline: r.baseline === null ? null : (JSON.parse(r.baseline) as FileEntry),
  current: r.current === null ? null : (JSON.parse(r.current) as FileEntry),
});

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
  private readonly reportingStmt;
  private readonly candidatesStmt;
  private readonly portAlarmsStmt;

  constructor(db: Db) {
    this.placeStmt = db.prepare('SELECT grp, sample FROM hosts WHERE host = ?');
    // Revoked hosts say nothing about what the group should look like. CROSS JOIN keeps SQLite's join order:
    // the rows of this path first (measured_by_key), then their hosts; left to the planner, a condition on
    // `h.sample` made it walk every host of the group instead (10,000 lookups for a path 757 hosts had).
    this.peersStmt = db.prepare(
      `SELECT h.host AS host, h.sample AS sample, m.baseline AS baseline, m.current AS current
       FROM measured m CROSS JOIN hosts h ON h.host = m.host AND m.kind = 'file' AND m.key = ?
       WHERE h.grp = ? AND h.host != ? AND h.state != 'revoked'`,
    );
    // For judging one change: how many peers report the path, and only the rows that can decide the verdict
    // (samples, and peers whose content hash is the changed file's). Filtered inside SQLite: parsing every peer's
    // JSON in JS cost ~2 ms per event at 1,000 hosts in a group (BENCHMARKS.md, load with events).
    this.reportingStmt = db.prepare(
      `SELECT COUNT(*) FROM measured m CROSS JOIN hosts h ON h.host = m.host AND m.kind = 'file' AND m.key = ?
       WHERE h.grp = ? AND h.host != ? AND h.state != 'revoked' AND m.current IS NOT NULL`,
    ).pluck();
    this.candidatesStmt = db.prepare(
      `SELECT h.host AS host, h.sample AS sample, m.baseline AS baseline, m.current AS current
       FROM measured m CROSS JOIN hosts h ON h.host = m.host AND m.kind = 'file' AND m.key = ?
       WHERE h.grp = ? AND h.host != ? AND h.state != 'revoked'
         AND (h.sample = 1 OR (instr(m.current, ?) > 0 AND json_extract(m.current, '$.sha256') = ?))`,
    );
    this.portAlarmsStmt = db.prepare('SELECT port_alarms FROM group_settings WHERE grp = ?').pluck();
  }

  place(host: string): HostPlace {
    const r = this.placeStmt.get(host) as { grp: string; sample: number } | undefined;
    return { group: r?.grp ?? 'default', sample: r?.sample === 1 };
  }

  /** The other hosts of `group` that have a row for `path`, with baseline and current parsed. */
  peers(group: string, host: string, path: string): PeerState[] {
    return (this.peersStmt.all(path, group, host) as PeerRow[]).map(parsePeer);
  }

  /**
   * What {@link classifyChange} needs to judge content `sha256` at `path` on `host`: the number of other hosts
   * of the group reporting the path, and of them only the samples and those whose content has that hash (no
   * other peer can be `same` or `expected`). Equivalent to passing every peer, without parsing every peer.
   */
  judgingPeers(group: string, host: string, path: string, sha256: string | undefined): { reporting: number; peers: PeerState[] } {
    return {
      reporting: this.reportingStmt.get(path, group, host) as number,
      // `current` is canonical JSON, so the hash appears as this text exactly when the field holds it (a quote
      // inside a string value is escaped): the substring test spares json_extract on nearly every row.
      peers: (this.candidatesStmt.all(path, group, host, sha256 ? `"sha256":"${sha256}"` : null, sha256 ?? null) as PeerRow[]).map(parsePeer),
    };
  }

  /** Whether a new listener opens `port-opened` on hosts of this group (on unless `group-ports G off`). */
  portAlarms(group: string): boolean {
    const v = this.portAlarmsStmt.get(group) as number | undefined;
    return v === undefined || v === 1;
  }
}
