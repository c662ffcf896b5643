import type { AlarmKind } from '../shared/alarm-kinds.ts';
import type { DaemonEntry, FileEntry, MountEntry } from '../shared/protocol.ts';
import { canonicalJson, stateDigest, type EntryKind } from '../shared/state-digest.ts';
import type { AlarmStore } from './alarm-store.ts';
import { FILE_ALARMS, judgeDaemon, judgeFile, judgeMount } from './baseline-judge.ts';
import type { Db } from './db.ts';

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

/**
 * Each host's baseline and last reported state, and the alarms that follow
 * from comparing them. Writes happen in one immediate transaction per report
 * or event, alarms included, so a crash never leaves state and alarms apart.
 */
export class BaselineStore {
  private readonly upsert;
  private readonly rowsOf;
  private readonly rowOf;
  private readonly isOpenStmt;

  constructor(private readonly db: Db, private readonly alarms: AlarmStore) {
    this.upsert = db.prepare(
      `INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (host, kind, key) DO UPDATE SET current = excluded.current, updated_at = excluded.updated_at`,
    );
    this.rowsOf = db.prepare('SELECT kind, key, baseline, current FROM measured WHERE host = ? AND kind = ?');
    this.rowOf = db.prepare('SELECT kind, key, baseline, current FROM measured WHERE host = ? AND kind = ? AND key = ?');
    // One lookup in the alarms_open index per subject: the cost of an event does not grow with the open alarms.
    this.isOpenStmt = db.prepare('SELECT 1 FROM alarms WHERE host = ? AND kind = ? AND subject = ? AND resolved_at IS NULL').pluck();
  }

  /** Whether the host has a baseline taken under its current certificate. */
  hasBaseline(host: string): boolean {
    const r = this.db.prepare(
      `SELECT b.cert_serial AS b, h.cert_serial AS h FROM baseline_hosts b JOIN hosts h USING (host) WHERE host = ?`,
    ).get(host) as { b: string | null; h: string | null } | undefined;
    return !!r && r.b === r.h;
  }

  /** The digest of the host's current state, as the agent computes it over its own. */
  digest(host: string): string {
    const rows = this.db.prepare('SELECT kind, key, current AS json FROM measured WHERE host = ? AND current IS NOT NULL').all(host) as { kind: EntryKind; key: string; json: string }[];
    return stateDigest(rows);
  }

  /** Applies a full report: the first after enrollment becomes the baseline; later ones are judged. */
  applyReport(host: string, r: { files: FileEntry[]; daemons: DaemonEntry[]; mounts: MountEntry[] }, now: number): ApplyResult {
    return this.db.transaction((): ApplyResult => {
      const res: ApplyResult = { established: false, opened: [], resolved: 0 };
      if (!this.hasBaseline(host)) {
        res.established = true;
        this.db.prepare('DELETE FROM measured WHERE host = ?').run(host);
        const serial = (this.db.prepare('SELECT cert_serial FROM hosts WHERE host = ?').get(host) as { cert_serial: string | null } | undefined)?.cert_serial ?? null;
        this.db.prepare(`INSERT INTO baseline_hosts (host, cert_serial, established_at, reported_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (host) DO UPDATE SET cert_serial = excluded.cert_serial, established_at = excluded.established_at, reported_at = excluded.reported_at`)
          .run(host, serial, now, now);
        for (const f of r.files) {
          const j = canonicalJson(f);
          this.db.prepare('INSERT OR REPLACE INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, ?, ?, ?)').run(host, 'file', f.path, j, j, now);
        }
        // Alarms left from an earlier baseline (a re-enrolled host) no longer mean anything.
        for (const a of this.openAlarms(host)) if (FILE_KINDS.includes(a.kind)) res.resolved += this.alarms.resolve(host, a.kind, now, a.subject);
      } else {
        this.db.prepare('UPDATE baseline_hosts SET reported_at = ? WHERE host = ?').run(now, host);
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
      }
      this.replaceKind(host, 'daemon', r.daemons.map((d) => [d.name, d]), now, res);
      this.replaceKind(host, 'mount', r.mounts.map((m) => [m.path, m]), now, res);
      return res;
    }).immediate();
  }

  /** Applies changes sent at once by the agent; judged against the baseline when there is one. */
  applyEvent(host: string, e: { files: FileEntry[]; gone: string[]; daemons: DaemonEntry[]; mounts: MountEntry[] }, now: number): ApplyResult {
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
      return res;
    }).immediate();
  }

  /**
   * Takes the current state into the baseline: every file of the host, or the
   * named paths (a directory names everything under it). Resolves the file
   * alarms of what it took. Returns the accepted paths.
   */
  accept(host: string, paths: string[] | null, now: number): { accepted: string[]; unmatched: string[] } {
    return this.db.transaction(() => {
      const rows = this.rowsOf.all(host, 'file') as Row[];
      const matched = new Set<string>();
      const accepted: string[] = [];
      const hits = (key: string) => {
        if (!paths) return true;
        let any = false;
        for (const p of paths) {
          const q = p.length > 1 ? p.replace(/\/+$/, '') : p;
          if (key === q || key.startsWith(q === '/' ? '/' : q + '/')) { matched.add(p); any = true; }
        }
        return any;
      };
      for (const row of rows) {
        if (!hits(row.key)) continue;
        if (row.current === null) this.db.prepare('DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, 'file', row.key);
        else if (row.baseline !== row.current) this.db.prepare('UPDATE measured SET baseline = current WHERE host = ? AND kind = ? AND key = ?').run(host, 'file', row.key);
        accepted.push(row.key);
      }
      // Alarms whose path has no row any more (accepted earlier, or never reported) resolve too.
      for (const a of this.openAlarms(host)) {
        if (FILE_KINDS.includes(a.kind) && hits(a.subject)) {
          this.alarms.resolve(host, a.kind, now, a.subject);
          if (!accepted.includes(a.subject)) accepted.push(a.subject);
        }
      }
      return { accepted: accepted.sort(), unmatched: paths ? paths.filter((p) => !matched.has(p)) : [] };
    }).immediate();
  }

  private openAlarms(host: string): { kind: AlarmKind; subject: string }[] {
    return this.db.prepare('SELECT kind, subject FROM alarms WHERE host = ? AND resolved_at IS NULL').all(host) as { kind: AlarmKind; subject: string }[];
  }

  private setGone(host: string, row: Row, now: number): void {
    if (row.baseline === null) this.db.prepare('DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, row.kind, row.key);
    else this.db.prepare('UPDATE measured SET current = NULL, updated_at = ? WHERE host = ? AND kind = ? AND key = ?').run(now, host, row.kind, row.key);
  }

  /** Opens the alarms a verdict wants and resolves the host's other alarms of those kinds for that subject. */
  private reconcile(host: string, subject: string, kinds: readonly AlarmKind[], want: Map<AlarmKind, { detail: unknown; severity?: 'critical' | 'warning' }>,
    now: number, res: ApplyResult): void {
    for (const kind of kinds) {
      const w = want.get(kind);
      const isOpen = this.isOpenStmt.get(host, kind, subject) !== undefined;
      if (w && !isOpen) {
        const id = this.alarms.open(host, kind, subject, now, w.detail, w.severity);
        if (id !== null) res.opened.push({ id, kind, subject });
      } else if (!w && isOpen) {
        res.resolved += this.alarms.resolve(host, kind, now, subject);
      }
    }
  }

  private judgeFileRow(host: string, row: Row, now: number, res: ApplyResult): void {
    const v = judgeFile(row.baseline ? JSON.parse(row.baseline) as FileEntry : null, row.current ? JSON.parse(row.current) as FileEntry : null);
    const want = new Map<AlarmKind, { detail: unknown; severity?: 'critical' | 'warning' }>();
    if (v.alarm) want.set(v.alarm, { detail: v.detail, severity: v.severity });
    if (v.tampered) want.set('agent-tampered', { detail: { ...v.detail, finding: v.alarm } });
    this.reconcile(host, row.key, FILE_KINDS, want, now, res);
    if (!row.baseline && !row.current) this.db.prepare('DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, 'file', row.key);
  }

  private judgeOther(host: string, kind: 'daemon' | 'mount', key: string, value: DaemonEntry | MountEntry, now: number, res: ApplyResult): void {
    const v = kind === 'daemon' ? judgeDaemon(value as DaemonEntry) : judgeMount(value as MountEntry);
    const want = new Map<AlarmKind, { detail: unknown }>();
    if (v.alarm) want.set(v.alarm, { detail: v.detail });
    this.reconcile(host, key, kind === 'daemon' ? DAEMON_KINDS : MOUNT_KINDS, want, now, res);
  }

  /** Sets the whole set of daemons or mounts: unlisted ones are dropped and their alarms resolved. */
  private replaceKind(host: string, kind: 'daemon' | 'mount', items: [string, DaemonEntry | MountEntry][], now: number, res: ApplyResult): void {
    const keep = new Set(items.map(([k]) => k));
    for (const row of this.rowsOf.all(host, kind) as Row[]) {
      if (keep.has(row.key)) continue;
      this.db.prepare('DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, kind, row.key);
      this.reconcile(host, row.key, kind === 'daemon' ? DAEMON_KINDS : MOUNT_KINDS, new Map(), now, res);
    }
    for (const [key, v] of items) {
      this.upsert.run(host, kind, key, null, canonicalJson(v), now);
      this.judgeOther(host, kind, key, v, now, res);
    }
  }
}
