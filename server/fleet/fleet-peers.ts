import type { FileEntry } from '../../shared/protocol.ts';
import type { Db } from '../storage/db.ts';
import { contentKey, type PeerState } from './sample-match.ts';

interface PeerRow {
  host: string;
  sample: number;
  baseline: string | null;
  current: string | null;
}

const parsePeer = (r: PeerRow): PeerState => ({
  host: r.host,
  sample: r.sample === 1,
  baseline: r.baseline === null ? null : (JSON.parse(r.baseline) as FileEntry),
  current: r.current === null ? null : (JSON.parse(r.current) as FileEntry),
});

/** A host's place in the fleet: its group and whether it is a sample. */
export interface HostPlace {
  group: string;
  sample: boolean;
}

/**
 * The database side of sample matching: a host's group, the other hosts of
 * the group with their state of one path, and per-group settings. Each call
 * reads the database, so `group` and `sample` run from the CLI take effect
 * on the next judgement in a running `serve` (nothing is cached).
 */
export class GroupPeers {
  private readonly placeStmt;
  private readonly peersStmt;
  private readonly countsStmt;
  private readonly samplesStmt;
  private readonly portAlarmsStmt;
  private readonly portAllowStmt;

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
    // For judging one change: the group's counts of the path (migration 8, kept by triggers), less this host's
    // own row where it counts, and the samples. Counting the peers row by row cost ~1.3 µs a host that has the
    // path: ~13 ms per event for a package upgrade across a 10,000-host group (BENCHMARKS.md, load round 6).
    const self = `SELECT m.current FROM measured m JOIN hosts h ON h.host = m.host
                  WHERE m.host = $host AND m.kind = 'file' AND m.key = $path AND m.current IS NOT NULL AND h.grp = $group AND h.state != 'revoked'`;
    this.countsStmt = db.prepare(
      `SELECT COALESCE((SELECT hosts FROM path_contents WHERE grp = $group AND key = $path AND content = ''), 0)
                - (SELECT COUNT(*) FROM (${self})) AS reporting,
              COALESCE((SELECT hosts FROM path_contents WHERE grp = $group AND key = $path AND content = ${contentKey('$current')}), 0)
                - (SELECT COUNT(*) FROM (${self}) s WHERE ${contentKey('s.current')} = ${contentKey('$current')}) AS same`,
    );
    this.samplesStmt = db.prepare(
      `SELECT h.host AS host, h.sample AS sample, m.baseline AS baseline, m.current AS current
       FROM hosts h CROSS JOIN measured m ON m.host = h.host AND m.kind = 'file' AND m.key = ?
       WHERE h.grp = ? AND h.sample = 1 AND h.host != ? AND h.state != 'revoked'`,
    );
    this.portAlarmsStmt = db.prepare('SELECT port_alarms FROM group_settings WHERE grp = ?').pluck();
    this.portAllowStmt = db.prepare('SELECT 1 FROM group_port_allow WHERE grp = ? AND process = ?').pluck();
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
   * What {@link classifyChange} needs to judge `current` (the row's JSON as stored) at `path` on `host`: how many other hosts of the group
   * report the path and how many of them have the same content (from the counts, O(1)), and the group's
   * samples with their state of the path (the only peers that can make a change `expected`). Equivalent to
   * passing every peer (test/server/fleet-peers.test.ts).
   */
  judgingPeers(group: string, host: string, path: string, current: string | null): { reporting: number; same: number; peers: PeerState[] } {
    const c = this.countsStmt.get({ group, host, path, current }) as { reporting: number; same: number };
    return { reporting: c.reporting, same: c.same, peers: (this.samplesStmt.all(path, group, host) as PeerRow[]).map(parsePeer) };
  }

  /** Whether a new listener opens `port-opened` on hosts of this group (on unless `group-ports G off`). */
  portAlarms(group: string): boolean {
    const v = this.portAlarmsStmt.get(group) as number | undefined;
    return v === undefined || v === 1;
  }

  /** Whether listeners of a process with this name are allowed on hosts of the group (`group-ports G allow NAME`). */
  portAllowed(group: string, process: string): boolean {
    return process !== '' && this.portAllowStmt.get(group, process) !== undefined;
  }
}
