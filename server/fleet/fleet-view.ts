/**
 * The fleet-wide change view: for each watched path, which content
 * each host of each group has now. A host whose content matches no other
 * host of its group is an outlier: after an upgrade that is the one host the
 * upgrade missed, or the one an intruder patched.
 */
import type { SqlDb } from '../storage/engine.ts';

/** One content of a path within a group, and the hosts that have it. */
export interface FleetVariant {
  /** The SHA-256 for regular files; `symlink:TARGET`, `dir`, `other` or `missing` otherwise. */
  content: string;
  hosts: string[];
  /** Sample hosts among `hosts`. */
  samples: string[];
  /** Hosts among `hosts` whose baseline already has this state (accepted). */
  accepted: string[];
}

/** One path within one group. */
export interface FleetGroupPath {
  group: string;
  /** Hosts of the group that report the path. */
  hosts: number;
  /** Most common first. */
  variants: FleetVariant[];
  /** Hosts whose content no other host of the group has (only when the group has two or more reporting hosts). */
  outliers: string[];
}

export interface FleetPath {
  path: string;
  groups: FleetGroupPath[];
  /** True when some group holds more than one content for the path. */
  varies: boolean;
}

export interface FleetView {
  /** Groups with their host counts (every host, reporting or not). */
  groups: { group: string; hosts: number; samples: string[] }[];
  paths: FleetPath[];
  /** Paths left out by `limit` (the view lists varying paths first). */
  truncated: number;
}

interface Row {
  grp: string;
  host: string;
  sample: number;
  key: string;
  sha: string | null;
  type: string | null;
  target: string | null;
  accepted: number;
}

/** The content key of a measured file (see {@link FleetVariant.content}). */
function contentOf(r: Row): string {
  if (r.type === null) return 'missing';
  if (r.type === 'file') return r.sha ?? 'unreadable';
  if (r.type === 'symlink') return `symlink:${r.target ?? ''}`;
  return r.type;
}

/**
 * Builds the view from the database. `varyingOnly` keeps the paths where some
 * group disagrees; `limit` bounds the paths listed (varying ones first, then
 * by path). The content hash is read with the database's JSON functions, so no
 * stored entry is parsed in JavaScript.
 */
export async function buildFleetView(sql: SqlDb, o: { group?: string; varyingOnly?: boolean; limit?: number } = {}): Promise<FleetView> {
  const args: unknown[] = [];
  let where = `m.kind = 'file' AND h.state != 'revoked'`;
  if (o.group !== undefined) {
    where += ' AND h.grp = ?';
    args.push(o.group);
  }
  // The dialects differ in their JSON functions, and PostgreSQL orders text by the database's collation where
  // SQLite compares bytes: "C" gives the same order on both.
  const pg = sql.engine === 'postgres';
  const field = (f: string) => (pg ? `(m.current::jsonb ->> '${f}')` : `json_extract(m.current, '$.${f}')`);
  const c = pg ? ' COLLATE "C"' : '';
  const rows = await sql.all<Row>(
    `SELECT h.grp AS grp, h.host AS host, h.sample AS sample, m.key AS key,
            ${field('sha256')} AS sha, ${field('type')} AS type, ${field('target')} AS target,
            CASE WHEN m.baseline = m.current OR (m.baseline IS NULL AND m.current IS NULL) THEN 1 ELSE 0 END AS accepted
     FROM measured m JOIN hosts h ON h.host = m.host WHERE ${where} ORDER BY m.key${c}, h.grp${c}, h.host${c}`,
    args,
  );

  const byPath = new Map<string, Map<string, Map<string, FleetVariant>>>();
  for (const r of rows) {
    let groups = byPath.get(r.key);
    if (!groups) byPath.set(r.key, (groups = new Map()));
    let variants = groups.get(r.grp);
    if (!variants) groups.set(r.grp, (variants = new Map()));
    const c = contentOf(r);
    let v = variants.get(c);
    if (!v) variants.set(c, (v = { content: c, hosts: [], samples: [], accepted: [] }));
    v.hosts.push(r.host);
    if (r.sample === 1) v.samples.push(r.host);
    if (r.accepted === 1) v.accepted.push(r.host);
  }

  const all: FleetPath[] = [];
  for (const [path, groups] of byPath) {
    const gs: FleetGroupPath[] = [];
    for (const [group, variants] of groups) {
      const vs = [...variants.values()].sort((a, b) => b.hosts.length - a.hosts.length || a.content.localeCompare(b.content));
      const hosts = vs.reduce((n, v) => n + v.hosts.length, 0);
      const outliers = hosts >= 2 ? vs.filter((v) => v.hosts.length === 1).map((v) => v.hosts[0]!) : [];
      gs.push({ group, hosts, variants: vs, outliers });
    }
    const varies = gs.some((g) => g.variants.length > 1);
    if (o.varyingOnly && !varies) continue;
    all.push({ path, groups: gs, varies });
  }
  all.sort((a, b) => Number(b.varies) - Number(a.varies) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const limit = o.limit ?? Infinity;

  const gargs: unknown[] = [];
  let gwhere = `state != 'revoked'`;
  if (o.group !== undefined) {
    gwhere += ' AND grp = ?';
    gargs.push(o.group);
  }
  const samples = new Map<string, string[]>();
  for (const r of await sql.all<{ grp: string; host: string }>(`SELECT grp, host FROM hosts WHERE ${gwhere} AND sample = 1`, gargs)) {
    samples.set(r.grp, [...(samples.get(r.grp) ?? []), r.host]);
  }
  const groups = (await sql.all<{ grp: string; n: number }>(`SELECT grp, COUNT(*) AS n FROM hosts WHERE ${gwhere} GROUP BY grp ORDER BY grp${c}`, gargs)).map((g) => ({
    group: g.grp,
    hosts: g.n,
    samples: (samples.get(g.grp) ?? []).sort(),
  }));
  return { groups, paths: all.slice(0, limit), truncated: Math.max(0, all.length - limit) };
}
