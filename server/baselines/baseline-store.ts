import type { AlarmKind } from '../../shared/alarm-kinds.ts';
import { portKey, type DaemonEntry, type FileEntry, type MountEntry, type PortEntry } from '../../shared/protocol.ts';
import { canonicalJson, stateDigest, type EntryKind } from '../../shared/state-digest.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import { FILE_ALARMS, judgeDaemon, judgeFile, judgeMount } from './baseline-judge.ts';
import { sql, type Db } from '../storage/db.ts';
import { GroupPeers } from '../fleet/fleet-peers.ts';
import { classifyChange } from '../fleet/sample-match.ts';

/** An alarm opened while applying a report or event (for logs and latency measurement). */
export interface OpenedAlarm { id: number; kind: AlarmKind; subject: string }

export interface ApplyResult {
  /** This report became the host's baseline. */
  established: boolean;
  opened: OpenedAlarm[];
  resolved: number;
}

interface Row { kind: EntryKind; key: string; baseline: string | null; current: string | null }

const FILE_KINDS: readonly AlarmKind[] = [...FILE_ALARMS, 'agent-tampered'];
const DAEMON_KINDS: readonly AlarmKind[] = ['daemon-down', 'daemon-exe-mismatch'];
const MOUNT_KINDS: readonly AlarmKind[] = ['mount-writable'];
const PORT_KINDS: readonly AlarmKind[] = ['port-opened'];

/** What an alarm should look like: its detail and severity, and (for reclassifiable ones) its class key. */
interface Want {
  detail: unknown;
  severity?: 'critical' | 'warning';
  /**
   * When set, an open alarm whose stored detail gives another key is resolved
   * and opened again: an `expected` change that becomes something else (or the
   * reverse) must be mailed anew, not hide under the earlier verdict.
   */
  classKey?: string;
}

/** The class key of a file alarm's detail: the expected content hash, or '' for an unexpected change. */
function fileClassKey(detail: unknown): string {
  const e = (detail as { expected?: { sha256?: unknown } } | null)?.expected;
  return typeof e?.sha256 === 'string' ? e.sha256 : '';
}

/** What a measured report or event carries. */
export interface MeasuredReport { files: FileEntry[]; daemons: DaemonEntry[]; mounts: MountEntry[]; ports?: PortEntry[] }

/**
 * Each host's baseline and last reported state, and the alarms that follow
 * from comparing them. Writes happen in one immediate transaction per report
 * or event, alarms included, so a crash never leaves state and alarms apart.
 */
export class BaselineStore {
  private readonly upsert;
  private readonly rowsOf;
  private readonly rowOf;
  private readonly setDaemonBaseline;
  private readonly isOpenStmt;
  private readonly openDetailStmt;
  private readonly peers: GroupPeers;

  constructor(private readonly db: Db, private readonly alarms: AlarmStore) {
    this.peers = new GroupPeers(db);
    this.openDetailStmt = db.prepare('SELECT detail FROM alarms WHERE host = ? AND kind = ? AND subject = ? AND resolved_at IS NULL').pluck();
    this.upsert = db.prepare(
      `INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (host, kind, key) DO UPDATE SET current = excluded.current, updated_at = excluded.updated_at`,
    );
    this.rowsOf = db.prepare('SELECT kind, key, baseline, current FROM measured WHERE host = ? AND kind = ?');
    this.rowOf = db.prepare('SELECT kind, key, baseline, current FROM measured WHERE host = ? AND kind = ? AND key = ?');
    this.setDaemonBaseline = db.prepare(`UPDATE measured SET baseline = ? WHERE host = ? AND kind = 'daemon' AND key = ? AND baseline IS NULL`);
    // One lookup in the alarms_open index per subject: the cost of an event does not grow with the open alarms.
    this.isOpenStmt = db.prepare('SELECT 1 FROM alarms WHERE host = ? AND kind = ? AND subject = ? AND resolved_at IS NULL').pluck();
  }

  /** Whether the host has a baseline taken under its current certificate. */
  hasBaseline(host: string): boolean {
    const r = sql(this.db,
      `SELECT b.cert_serial AS b, h.cert_serial AS h FROM baseline_hosts b JOIN hosts h USING (host) WHERE host = ?`,
    ).get(host) as { b: string | null; h: string | null } | undefined;
    return !!r && r.b === r.h;
  }

  /** The digest of the host's current state, as the agent computes it over its own. */
  digest(host: string): string {
    const rows = sql(this.db, 'SELECT kind, key, current AS json FROM measured WHERE host = ? AND current IS NOT NULL').all(host) as { kind: EntryKind; key: string; json: string }[];
    return stateDigest(rows);
  }

  /** Applies a full report: the first after enrollment becomes the baseline; later ones are judged. */
  applyReport(host: string, r: MeasuredReport, now: number, image: { path: string; sha256: string } | null = null): ApplyResult {
    return this.db.transaction((): ApplyResult => {
      const res: ApplyResult = { established: false, opened: [], resolved: 0 };
      if (!this.hasBaseline(host)) {
        res.established = true;
        sql(this.db, 'DELETE FROM measured WHERE host = ?').run(host);
        const serial = (sql(this.db, 'SELECT cert_serial FROM hosts WHERE host = ?').get(host) as { cert_serial: string | null } | undefined)?.cert_serial ?? null;
        sql(this.db, `INSERT INTO baseline_hosts (host, cert_serial, established_at, reported_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (host) DO UPDATE SET cert_serial = excluded.cert_serial, established_at = excluded.established_at, reported_at = excluded.reported_at`)
          .run(host, serial, now, now);
        const base = sql(this.db, 'INSERT OR REPLACE INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
        let replacedImage: FileEntry | null = null;
        for (const f of r.files) {
          const j = canonicalJson(f);
          // The agent's executable replaced after it started and before this first scan: its baseline is the
          // image it runs (hashed at start, from /proc/self/exe), so the file on disk is judged a change.
          if (image && f.path === image.path && f.type === 'file' && f.sha256 && f.sha256 !== image.sha256) {
            replacedImage = f;
            base.run(host, 'file', f.path, canonicalJson({ ...f, sha256: image.sha256 }), j, now);
          } else {
            base.run(host, 'file', f.path, j, j, now);
          }
        }
        // Listening ports are baselined like files: what listens at the first report is the accepted state.
        for (const p of r.ports ?? []) {
          const j = canonicalJson(p);
          base.run(host, 'port', portKey(p), j, j, now);
        }
        // Alarms left from an earlier baseline (a re-enrolled host) no longer mean anything.
        for (const a of this.openAlarms(host)) if (FILE_KINDS.includes(a.kind) || PORT_KINDS.includes(a.kind)) res.resolved += this.alarms.resolve(host, a.kind, now, a.subject);
        if (replacedImage) this.judgeFileRow(host, this.rowOf.get(host, 'file', replacedImage.path) as Row, now, res);
      } else {
        sql(this.db, 'UPDATE baseline_hosts SET reported_at = ? WHERE host = ?').run(now, host);
        const reported = new Set<string>();
        for (const f of r.files) {
          reported.add(f.path);
          this.upsert.run(host, 'file', f.path, null, canonicalJson(f), now);
        }
        for (const row of this.rowsOf.all(host, 'file') as Row[]) {
          if (reported.has(row.key)) {
            this.judgeFileRow(host, row, now, res);
          } else {
            if (row.current !== null) this.setGone(host, row, now);
            this.judgeFileRow(host, { ...row, current: null }, now, res);
          }
        }
        const listening = new Set<string>();
        for (const p of r.ports ?? []) {
          const key = portKey(p);
          listening.add(key);
          this.upsert.run(host, 'port', key, null, canonicalJson(p), now);
        }
        for (const row of this.rowsOf.all(host, 'port') as Row[]) {
          if (listening.has(row.key)) this.judgePortRow(host, row, now, res);
          else {
            if (row.current !== null) this.setGone(host, row, now);
            this.judgePortRow(host, { ...row, current: null }, now, res);
          }
        }
      }
      this.replaceKind(host, 'daemon', r.daemons.map((d) => [d.name, d]), now, res);
      this.replaceKind(host, 'mount', r.mounts.map((m) => [m.path, m]), now, res);
      return res;
    }).immediate();
  }

  /** Applies changes sent at once by the agent; judged against the baseline when there is one. */
  applyEvent(host: string, e: { files: FileEntry[]; gone: string[]; daemons: DaemonEntry[]; mounts: MountEntry[]; ports?: PortEntry[]; portsGone?: string[] }, now: number): ApplyResult {
    return this.db.transaction((): ApplyResult => {
      const res: ApplyResult = { established: false, opened: [], resolved: 0 };
      const judging = this.hasBaseline(host);
      for (const f of e.files) {
        this.upsert.run(host, 'file', f.path, null, canonicalJson(f), now);
        if (judging) this.judgeFileRow(host, this.rowOf.get(host, 'file', f.path) as Row, now, res);
      }
      for (const p of e.gone) {
        const row = this.rowOf.get(host, 'file', p) as Row | undefined;
        if (!row || row.current === null) continue;
        this.setGone(host, row, now);
        if (judging) this.judgeFileRow(host, { ...row, current: null }, now, res);
      }
      for (const d of e.daemons) {
        this.upsert.run(host, 'daemon', d.name, null, canonicalJson(d), now);
        this.judgeOther(host, 'daemon', d.name, d, now, res);
      }
      for (const m of e.mounts) {
        this.upsert.run(host, 'mount', m.path, null, canonicalJson(m), now);
        this.judgeOther(host, 'mount', m.path, m, now, res);
      }
      for (const p of e.ports ?? []) {
        const key = portKey(p);
        this.upsert.run(host, 'port', key, null, canonicalJson(p), now);
        if (judging) this.judgePortRow(host, this.rowOf.get(host, 'port', key) as Row, now, res);
      }
      for (const key of e.portsGone ?? []) {
        const row = this.rowOf.get(host, 'port', key) as Row | undefined;
        if (!row || row.current === null) continue;
        this.setGone(host, row, now);
        if (judging) this.judgePortRow(host, { ...row, current: null }, now, res);
      }
      return res;
    }).immediate();
  }

  /**
   * Takes the current state into the baseline: every file, listening port and
   * daemon binary of the host, or the named paths (a directory names everything
   * under it), port keys (`tcp/0.0.0.0:22`) and daemons (by name or binary path). Resolves the alarms of what it took.
   * On a sample host, the group's open file alarms on those paths are judged
   * again, so changes that now match the sample become `expected`.
   */
  accept(host: string, paths: string[] | null, now: number): { accepted: string[]; unmatched: string[]; reclassified: number } {
    return this.db.transaction(() => {
      const rows = [...this.rowsOf.all(host, 'file') as Row[], ...this.rowsOf.all(host, 'port') as Row[]];
      const matched = new Set<string>();
      const accepted: string[] = [];
      const hits = (key: string) => {
        if (!paths) return true;
        let any = false;
        for (const p of paths) {
          const q = p.length > 1 ? p.replace(/\/+$/, '') : p;
          if (key === q || (q.startsWith('/') && key.startsWith(q === '/' ? '/' : q + '/'))) { matched.add(p); any = true; }
        }
        return any;
      };
      for (const row of rows) {
        if (!hits(row.key)) continue;
        if (row.current === null) sql(this.db, 'DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, row.kind, row.key);
        else if (row.baseline !== row.current) sql(this.db, 'UPDATE measured SET baseline = current WHERE host = ? AND kind = ? AND key = ?').run(host, row.kind, row.key);
        accepted.push(row.key);
      }
      // Alarms whose path has no row any more (accepted earlier, or never reported) resolve too.
      for (const a of this.openAlarms(host)) {
        if ((FILE_KINDS.includes(a.kind) || PORT_KINDS.includes(a.kind)) && hits(a.subject)) {
          this.alarms.resolve(host, a.kind, now, a.subject);
          if (!accepted.includes(a.subject)) accepted.push(a.subject);
        }
      }
      // Daemons, by name or by their binary's path: the binary running now becomes the daemon's baseline.
      for (const row of this.rowsOf.all(host, 'daemon') as Row[]) {
        if (row.current === null) continue;
        const d = JSON.parse(row.current) as DaemonEntry;
        if (!hits(row.key) && !hits(d.exe)) continue;
        if (d.status === 'up' && d.sha256) sql(this.db, `UPDATE measured SET baseline = current WHERE host = ? AND kind = 'daemon' AND key = ?`).run(host, row.key);
        this.judgeOther(host, 'daemon', row.key, d, now, { established: false, opened: [], resolved: 0 });
        if (!accepted.includes(row.key)) accepted.push(row.key);
      }
      let reclassified = 0;
      const place = this.peers.place(host);
      if (place.sample) {
        for (const path of accepted) {
          if (!path.startsWith('/')) continue;
          for (const peer of this.peers.peers(place.group, host, path)) {
            if (peer.sample || !(this.isOpenStmt.get(peer.host, 'file-changed', path) ?? this.isOpenStmt.get(peer.host, 'file-added', path))) continue;
            const res: ApplyResult = { established: false, opened: [], resolved: 0 };
            this.judgeFileRow(peer.host, this.rowOf.get(peer.host, 'file', path) as Row, now, res);
            reclassified += res.opened.length;
          }
        }
      }
      return { accepted: accepted.sort(), unmatched: paths ? paths.filter((p) => !matched.has(p)) : [], reclassified };
    }).immediate();
  }

  private openAlarms(host: string): { kind: AlarmKind; subject: string }[] {
    return sql(this.db, 'SELECT kind, subject FROM alarms WHERE host = ? AND resolved_at IS NULL').all(host) as { kind: AlarmKind; subject: string }[];
  }

  private setGone(host: string, row: Row, now: number): void {
    if (row.baseline === null) sql(this.db, 'DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, row.kind, row.key);
    else sql(this.db, 'UPDATE measured SET current = NULL, updated_at = ? WHERE host = ? AND kind = ? AND key = ?').run(now, host, row.kind, row.key);
  }

  /** Opens the alarms a verdict wants and resolves the host's other alarms of those kinds for that subject. */
  private reconcile(host: string, subject: string, kinds: readonly AlarmKind[], want: Map<AlarmKind, Want>, now: number, res: ApplyResult): void {
    for (const kind of kinds) {
      const w = want.get(kind);
      let isOpen: boolean;
      if (w?.classKey !== undefined) {
        const detail = this.openDetailStmt.get(host, kind, subject) as string | null | undefined;
        isOpen = detail !== undefined;
        if (isOpen && fileClassKey(detail ? JSON.parse(detail) : null) !== w.classKey) {
          res.resolved += this.alarms.resolve(host, kind, now, subject);
          isOpen = false;
        }
      } else {
        isOpen = this.isOpenStmt.get(host, kind, subject) !== undefined;
      }
      if (w && !isOpen) {
        const id = this.alarms.open(host, kind, subject, now, w.detail, w.severity);
        if (id !== null) res.opened.push({ id, kind, subject });
      } else if (!w && isOpen) {
        res.resolved += this.alarms.resolve(host, kind, now, subject);
      }
    }
  }

  private judgeFileRow(host: string, row: Row, now: number, res: ApplyResult): void {
    const current = row.current ? JSON.parse(row.current) as FileEntry : null;
    const v = judgeFile(row.baseline ? JSON.parse(row.baseline) as FileEntry : null, current);
    const want = new Map<AlarmKind, Want>();
    if (v.alarm === 'file-changed' || v.alarm === 'file-added') {
      // Issue 7: the same content as an accepted sample of the group is expected; content no peer has is an outlier.
      const place = this.peers.place(host);
      const c = classifyChange(current, { isSample: place.sample, cls: (v.detail.class as FileEntry['class']) ?? 'normal', ...this.peers.judgingPeers(place.group, host, row.key, row.current) });
      const fleet = { group: place.group, peers: c.peers, same: c.same, ...(c.outlier ? { outlier: true } : {}) };
      if (c.expected) want.set(v.alarm, { detail: { ...v.detail, expected: c.expected, fleet }, severity: 'warning', classKey: c.expected.sha256 });
      else want.set(v.alarm, { detail: { ...v.detail, fleet }, severity: v.severity, classKey: '' });
    } else if (v.alarm) {
      want.set(v.alarm, { detail: v.detail, severity: v.severity });
    }
    if (v.tampered) want.set('agent-tampered', { detail: { ...v.detail, finding: v.alarm } });
    this.reconcile(host, row.key, FILE_KINDS, want, now, res);
    if (!row.baseline && !row.current) sql(this.db, 'DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, 'file', row.key);
  }

  /**
   * `port-opened` (warning) while a listener not in the baseline, or owned by
   * another process than the baseline's, is open and the host's group has
   * port alarms on; resolved when it goes away or is accepted.
   */
  private judgePortRow(host: string, row: Row, now: number, res: ApplyResult): void {
    const want = new Map<AlarmKind, Want>();
    const cur = row.current ? JSON.parse(row.current) as PortEntry : null;
    const base = row.baseline ? JSON.parse(row.baseline) as PortEntry : null;
    if (cur && (!base || base.process !== cur.process) && this.peers.portAlarms(this.peers.place(host).group)) {
      want.set('port-opened', {
        detail: { process: cur.process || '(unknown owner)', pids: cur.pids, uid: cur.uid, proto: cur.proto, addr: cur.addr, port: cur.port, ...(base ? { baselineProcess: base.process } : {}) },
      });
    }
    this.reconcile(host, row.key, PORT_KINDS, want, now, res);
  }

  private judgeOther(host: string, kind: 'daemon' | 'mount', key: string, value: DaemonEntry | MountEntry, now: number, res: ApplyResult): void {
    let v;
    if (kind === 'daemon') {
      const d = value as DaemonEntry;
      // The first `up` entry with the binary's hash is the daemon's baseline (kept until `accept`).
      if (d.status === 'up' && d.sha256) this.setDaemonBaseline.run(canonicalJson(d), host, key);
      const row = this.rowOf.get(host, 'daemon', key) as Row | undefined;
      v = judgeDaemon(d, row?.baseline ? JSON.parse(row.baseline) as DaemonEntry : null);
    } else {
      v = judgeMount(value as MountEntry);
    }
    const want = new Map<AlarmKind, Want>();
    if (v.alarm) want.set(v.alarm, { detail: v.detail });
    this.reconcile(host, key, kind === 'daemon' ? DAEMON_KINDS : MOUNT_KINDS, want, now, res);
  }

  /** Sets the whole set of daemons or mounts: unlisted ones are dropped and their alarms resolved. */
  private replaceKind(host: string, kind: 'daemon' | 'mount', items: [string, DaemonEntry | MountEntry][], now: number, res: ApplyResult): void {
    const keep = new Set(items.map(([k]) => k));
    for (const row of this.rowsOf.all(host, kind) as Row[]) {
      if (keep.has(row.key)) continue;
      sql(this.db, 'DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, kind, row.key);
      this.reconcile(host, row.key, kind === 'daemon' ? DAEMON_KINDS : MOUNT_KINDS, new Map(), now, res);
    }
    for (const [key, v] of items) {
      this.upsert.run(host, kind, key, null, canonicalJson(v), now);
      this.judgeOther(host, kind, key, v, now, res);
    }
  }
}
