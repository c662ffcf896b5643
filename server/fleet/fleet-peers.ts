import type { FileEntry } from '../../shared/protocol.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import { textKeyIs } from '../storage/text-key.ts';
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
 * on the next judgement in a running `serve` (nothing is cached). Inside a
 * transaction (a judgement), pass its `tx` as the last argument.
 */
export class GroupPeers {
  private readonly countsText: string;

  constructor(private readonly sql: SqlDb) {
    // For judging one change: the group's counts of the path (migration 8, kept by triggers), less this host's
    // own row where it counts, and the samples. Counting the peers row by row cost ~1.3 µs a host that has the
    // path: ~13 ms per event for a package upgrade across a 10,000-host group (BENCHMARKS.md, load round 6).
    // The content key is SQLite's JSON expression there and migration 8's function of the same text on PostgreSQL.
    const key = (json: string) => (sql.engine === 'postgres' ? `path_content_key(${json})` : contentKey(json));
    const self = `SELECT m.current FROM measured m JOIN hosts h ON h.host = m.host
                  WHERE m.host = @host AND m.kind = 'file' AND ${textKeyIs(sql.engine, 'm.key', '@path')} AND m.current IS NOT NULL AND h.grp = @group AND h.state != 'revoked'`;
    // PostgreSQL cannot infer a type for a parameter used only as a function argument or compared with one.
    const current = sql.engine === 'postgres' ? 'CAST(@current AS TEXT)' : '@current';
    this.countsText = `SELECT COALESCE((SELECT hosts FROM path_contents WHERE grp = @group AND ${textKeyIs(sql.engine, 'key', '@path')} AND content = ''), 0)
                - (SELECT COUNT(*) FROM (${self}) o) AS reporting,
              COALESCE((SELECT hosts FROM path_contents WHERE grp = @group AND ${textKeyIs(sql.engine, 'key', '@path')} AND content = ${key(current)}), 0)
                - (SELECT COUNT(*) FROM (${self}) s WHERE ${key('s.current')} = ${key(current)}) AS same`;
  }

  /** The host's group and whether it is a sample (`default`, no sample, for a host not enrolled). */
  async place(host: string, q: Queryable = this.sql): Promise<HostPlace> {
    const r = await q.get<{ grp: string; sample: number }>('SELECT grp, sample FROM hosts WHERE host = ?', [host]);
    return { group: r?.grp ?? 'default', sample: r?.sample === 1 };
  }

  /** The other hosts of `group` that have a row for `path`, with baseline and current parsed. */
  async peers(group: string, host: string, path: string, q: Queryable = this.sql): Promise<PeerState[]> {
    // Revoked hosts say nothing about what the group should look like. CROSS JOIN keeps SQLite's join order:
    // the rows of this path first (measured_by_key), then their hosts; left to the planner, a condition on
    // `h.sample` made it walk every host of the group instead (10,000 lookups for a path 757 hosts had).
    const rows = await q.all<PeerRow>(
      `SELECT h.host AS host, h.sample AS sample, m.baseline AS baseline, m.current AS current
       FROM measured m CROSS JOIN hosts h WHERE h.host = m.host AND m.kind = 'file' AND ${textKeyIs(q.engine, 'm.key', '@path')}
       AND h.grp = @group AND h.host != @host AND h.state != 'revoked'`,
      { path, group, host },
    );
    return rows.map(parsePeer);
  }

  /**
   * What {@link classifyChange} needs to judge `current` (the row's JSON as stored) at `path` on `host`: how many other hosts of the group
   * report the path and how many of them have the same content (from the counts, O(1)), and the group's
   * samples with their state of the path (the only peers that can make a change `expected`). Equivalent to
   * passing every peer (test/server/fleet-peers.test.ts).
   */
  async judgingPeers(group: string, host: string, path: string, current: string | null, q: Queryable = this.sql): Promise<{ reporting: number; same: number; peers: PeerState[] }> {
    const c = (await q.get<{ reporting: number; same: number }>(this.countsText, { group, host, path, current }))!;
    const samples = await q.all<PeerRow>(
      `SELECT h.host AS host, h.sample AS sample, m.baseline AS baseline, m.current AS current
       FROM hosts h CROSS JOIN measured m WHERE m.host = h.host AND m.kind = 'file' AND ${textKeyIs(q.engine, 'm.key', '@path')}
       AND h.grp = @group AND h.sample = 1 AND h.host != @host AND h.state != 'revoked'`,
      { path, group, host },
    );
    return { reporting: c.reporting, same: c.same, peers: samples.map(parsePeer) };
  }

  /** Whether a new listener opens `port-opened` on hosts of this group (on unless `group-ports G off`). */
  async portAlarms(group: string, q: Queryable = this.sql): Promise<boolean> {
    const r = await q.get<{ port_alarms: number }>('SELECT port_alarms FROM group_settings WHERE grp = ?', [group]);
    return r === undefined || r.port_alarms === 1;
  }

  /** Whether listeners of a process with this name are allowed on hosts of the group (`group-ports G allow NAME`). */
  async portAllowed(group: string, process: string, q: Queryable = this.sql): Promise<boolean> {
    return process !== '' && (await q.get('SELECT 1 AS one FROM group_port_allow WHERE grp = ? AND process = ?', [group, process])) !== undefined;
  }
}
