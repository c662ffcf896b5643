import type { AlarmKind } from '../../shared/alarm-kinds.ts';
import type { Report, StateEvent } from '../../shared/protocol.ts';
import { canonicalJson, type EntryKind, stateDigest } from '../../shared/state-digest.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import type { GroupPeers } from '../fleet/fleet-peers.ts';
import { type Db, sql } from '../storage/db.ts';
import { type GoneField, goneIn, type JudgeContext, type ServerEntryKind, type ValuesField, valuesIn, type Want } from './kinds/kind.ts';
import { SERVER_KINDS } from './kinds/registry.ts';

/** An alarm opened while applying a report or event (for logs and latency measurement). */
export interface OpenedAlarm {
  id: number;
  kind: AlarmKind;
  subject: string;
}

export interface ApplyResult {
  /** This report became the host's baseline. */
  established: boolean;
  opened: OpenedAlarm[];
  resolved: number;
}

interface Row {
  kind: EntryKind;
  key: string;
  baseline: string | null;
  current: string | null;
}

const BASELINED = SERVER_KINDS.filter((k) => k.lifecycle === 'baseline');
const REPLACED = SERVER_KINDS.filter((k) => k.lifecycle === 'replace');
const baselinedAlarm = (a: AlarmKind) => BASELINED.some((k) => k.alarms.includes(a));

const keyOf = (k: ServerEntryKind, v: unknown): string => k.keyOf(v as never);

/** What a measured report carries: each kind's values under its field (a field left out is empty). */
export type MeasuredReport = Partial<Pick<Report, ValuesField>>;

/** What an event carries: new values, and the keys of entries gone (a field left out is empty). */
export type MeasuredEvent = Partial<Pick<StateEvent, ValuesField | GoneField>>;

/**
 * Each host's baseline and last reported state, and the alarms that follow
 * from comparing them. Writes happen in one immediate transaction per report
 * or event, alarms included, so a crash never leaves state and alarms apart.
 */
export class BaselineStore {
  private readonly upsert;
  private readonly rowsOf;
  private readonly rowOf;
  private readonly adoptBaseline;
  private readonly isOpenStmt;
  private readonly openDetailStmt;
  private readonly peers: GroupPeers;
  private readonly judgeCtx: (host: string) => JudgeContext;

  constructor(
    private readonly db: Db,
    private readonly alarms: AlarmStore,
    peers: GroupPeers,
  ) {
    this.peers = peers;
    this.openDetailStmt = db.prepare('SELECT detail FROM alarms WHERE host = ? AND kind = ? AND subject = ? AND resolved_at IS NULL').pluck();
    this.upsert = db.prepare(
      `INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (host, kind, key) DO UPDATE SET current = excluded.current, updated_at = excluded.updated_at`,
    );
    this.rowsOf = db.prepare('SELECT kind, key, baseline, current FROM measured WHERE host = ? AND kind = ?');
    this.rowOf = db.prepare('SELECT kind, key, baseline, current FROM measured WHERE host = ? AND kind = ? AND key = ?');
    this.adoptBaseline = db.prepare('UPDATE measured SET baseline = ? WHERE host = ? AND kind = ? AND key = ? AND baseline IS NULL');
    // One lookup in the alarms_open index per subject: the cost of an event does not grow with the open alarms.
    this.isOpenStmt = db.prepare('SELECT 1 FROM alarms WHERE host = ? AND kind = ? AND subject = ? AND resolved_at IS NULL').pluck();
    const isOpen = (h: string, kind: AlarmKind, subject: string) => this.isOpenStmt.get(h, kind, subject) !== undefined;
    this.judgeCtx = (host) => ({ host, peers: this.peers, isOpen });
  }

  /** Whether the host has a baseline taken under its current certificate. */
  hasBaseline(host: string): boolean {
    const r = sql(this.db, `SELECT b.cert_serial AS b, h.cert_serial AS h FROM baseline_hosts b JOIN hosts h USING (host) WHERE host = ?`).get(host) as
      | { b: string | null; h: string | null }
      | undefined;
    return !!r && r.b === r.h;
  }

  /** The digest of the host's current state, as the agent computes it over its own. */
  digest(host: string): string {
    const rows = sql(this.db, 'SELECT kind, key, current AS json FROM measured WHERE host = ? AND current IS NOT NULL').all(host) as {
      kind: EntryKind;
      key: string;
      json: string;
    }[];
    return stateDigest(rows);
  }

  /** Applies a full report: the first after enrollment becomes the baseline; later ones are judged. */
  applyReport(host: string, r: MeasuredReport, now: number, image: { path: string; sha256: string } | null = null): ApplyResult {
    return this.db
      .transaction((): ApplyResult => {
        const res: ApplyResult = { established: false, opened: [], resolved: 0 };
        if (!this.hasBaseline(host)) {
          res.established = true;
          sql(this.db, 'DELETE FROM measured WHERE host = ?').run(host);
          const serial = (sql(this.db, 'SELECT cert_serial FROM hosts WHERE host = ?').get(host) as { cert_serial: string | null } | undefined)?.cert_serial ?? null;
          sql(
            this.db,
            `INSERT INTO baseline_hosts (host, cert_serial, established_at, reported_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (host) DO UPDATE SET cert_serial = excluded.cert_serial, established_at = excluded.established_at, reported_at = excluded.reported_at`,
          ).run(host, serial, now, now);
          const base = sql(this.db, 'INSERT OR REPLACE INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
          const differing: [ServerEntryKind, string][] = [];
          for (const k of BASELINED) {
            for (const v of valuesIn(k, r)) {
              const key = keyOf(k, v);
              const j = canonicalJson(v);
              const b = k.initialBaseline ? canonicalJson(k.initialBaseline(v as never, image)) : j;
              base.run(host, k.kind, key, b, j, now);
              if (b !== j) differing.push([k, key]);
            }
          }
          // Alarms left from an earlier baseline (a re-enrolled host) no longer mean anything.
          for (const a of this.openAlarms(host)) if (baselinedAlarm(a.kind)) res.resolved += this.alarms.resolve(host, a.kind, now, a.subject);
          for (const [k, key] of differing) this.judgeRow(k, host, this.rowOf.get(host, k.kind, key) as Row, now, res);
        } else {
          sql(this.db, 'UPDATE baseline_hosts SET reported_at = ? WHERE host = ?').run(now, host);
          for (const k of BASELINED) {
            const reported = new Set<string>();
            for (const v of valuesIn(k, r)) {
              const key = keyOf(k, v);
              reported.add(key);
              this.upsert.run(host, k.kind, key, null, canonicalJson(v), now);
            }
            for (const row of this.rowsOf.all(host, k.kind) as Row[]) {
              if (reported.has(row.key)) {
                this.judgeRow(k, host, row, now, res);
              } else {
                if (row.current !== null) this.setGone(host, row, now);
                this.judgeRow(k, host, { ...row, current: null }, now, res);
              }
            }
          }
        }
        for (const k of REPLACED) this.replaceKind(host, k, valuesIn(k, r), now, res);
        return res;
      })
      .immediate();
  }

  /** Applies changes sent at once by the agent; judged against the baseline when there is one. */
  applyEvent(host: string, e: MeasuredEvent, now: number): ApplyResult {
    return this.db
      .transaction((): ApplyResult => {
        const res: ApplyResult = { established: false, opened: [], resolved: 0 };
        const judging = this.hasBaseline(host);
        for (const k of SERVER_KINDS) {
          for (const v of valuesIn(k, e)) {
            const key = keyOf(k, v);
            this.upsert.run(host, k.kind, key, null, canonicalJson(v), now);
            if (k.lifecycle === 'replace') this.judgeReplaced(host, k, key, v, now, res);
            else if (judging) this.judgeRow(k, host, this.rowOf.get(host, k.kind, key) as Row, now, res);
          }
          for (const key of goneIn(k, e)) {
            const row = this.rowOf.get(host, k.kind, key) as Row | undefined;
            if (!row || row.current === null) continue;
            this.setGone(host, row, now);
            if (judging) this.judgeRow(k, host, { ...row, current: null }, now, res);
          }
        }
        return res;
      })
      .immediate();
  }

  /**
   * Takes the current state into the baseline: every file, listening port and
   * daemon binary of the host, or the named paths (a directory names everything
   * under it), port keys (`tcp/0.0.0.0:22`) and daemons (by name or binary path). Resolves the alarms of what it took.
   * On a sample host, the group's open file alarms on those paths are judged
   * again, so changes that now match the sample become `expected`.
   */
  accept(host: string, paths: string[] | null, now: number): { accepted: string[]; unmatched: string[]; reclassified: number } {
    return this.db
      .transaction(() => {
        const rows = BASELINED.flatMap((k) => this.rowsOf.all(host, k.kind) as Row[]);
        const matched = new Set<string>();
        const accepted: string[] = [];
        const hits = (key: string) => {
          if (!paths) return true;
          let any = false;
          for (const p of paths) {
            const q = p.length > 1 ? p.replace(/\/+$/, '') : p;
            if (key === q || (q.startsWith('/') && key.startsWith(q === '/' ? '/' : `${q}/`))) {
              matched.add(p);
              any = true;
            }
          }
          return any;
        };
        for (const row of rows) {
          if (!hits(row.key)) continue;
          if (row.current === null) sql(this.db, 'DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, row.kind, row.key);
          else if (row.baseline !== row.current) sql(this.db, 'UPDATE measured SET baseline = current WHERE host = ? AND kind = ? AND key = ?').run(host, row.kind, row.key);
          accepted.push(row.key);
        }
        // Alarms whose subject has no row any more (accepted earlier, or never reported) resolve too.
        for (const a of this.openAlarms(host)) {
          if (baselinedAlarm(a.kind) && hits(a.subject)) {
            this.alarms.resolve(host, a.kind, now, a.subject);
            if (!accepted.includes(a.subject)) accepted.push(a.subject);
          }
        }
        // Kinds with a baseline of their own (daemons, by name or binary path): the value running now becomes it.
        for (const k of REPLACED) {
          if (!k.accept) continue;
          for (const row of this.rowsOf.all(host, k.kind) as Row[]) {
            if (row.current === null) continue;
            const v = JSON.parse(row.current) as never;
            if (!hits(row.key) && !k.accept.names(v).some(hits)) continue;
            if (k.accept.takes(v)) sql(this.db, 'UPDATE measured SET baseline = current WHERE host = ? AND kind = ? AND key = ?').run(host, row.kind, row.key);
            this.judgeReplaced(host, k, row.key, v, now, { established: false, opened: [], resolved: 0 });
            if (!accepted.includes(row.key)) accepted.push(row.key);
          }
        }
        let reclassified = 0;
        for (const k of SERVER_KINDS) {
          for (const t of k.rejudgeAfterAccept?.(host, accepted, this.judgeCtx(host)) ?? []) {
            const res: ApplyResult = { established: false, opened: [], resolved: 0 };
            this.judgeRow(k, t.host, this.rowOf.get(t.host, k.kind, t.key) as Row, now, res);
            reclassified += res.opened.length;
          }
        }
        return { accepted: accepted.sort(), unmatched: paths ? paths.filter((p) => !matched.has(p)) : [], reclassified };
      })
      .immediate();
  }

  private openAlarms(host: string): { kind: AlarmKind; subject: string }[] {
    return sql(this.db, 'SELECT kind, subject FROM alarms WHERE host = ? AND resolved_at IS NULL').all(host) as { kind: AlarmKind; subject: string }[];
  }

  private setGone(host: string, row: Row, now: number): void {
    if (row.baseline === null) sql(this.db, 'DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, row.kind, row.key);
    else sql(this.db, 'UPDATE measured SET current = NULL, updated_at = ? WHERE host = ? AND kind = ? AND key = ?').run(now, host, row.kind, row.key);
  }

  /** Opens the alarms a verdict wants and resolves the host's other alarms of the kind's alarm kinds for that subject. */
  private reconcile(host: string, subject: string, k: ServerEntryKind, want: Map<AlarmKind, Want>, now: number, res: ApplyResult): void {
    for (const kind of k.alarms) {
      const w = want.get(kind);
      let isOpen: boolean;
      if (w?.classKey !== undefined) {
        const detail = this.openDetailStmt.get(host, kind, subject) as string | null | undefined;
        isOpen = detail !== undefined;
        if (isOpen && (k.classKeyOf?.(detail ? JSON.parse(detail) : null) ?? '') !== w.classKey) {
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

  /** Judges one stored row of a kind and reconciles its alarms; a row with neither side left is dropped. */
  private judgeRow(k: ServerEntryKind, host: string, row: Row, now: number, res: ApplyResult): void {
    const want = k.judge(
      {
        key: row.key,
        baseline: row.baseline ? (JSON.parse(row.baseline) as never) : null,
        current: row.current ? (JSON.parse(row.current) as never) : null,
        currentJson: row.current,
      },
      this.judgeCtx(host),
    );
    this.reconcile(host, row.key, k, want, now, res);
    if (!row.baseline && !row.current) sql(this.db, 'DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, k.kind, row.key);
  }

  /** Judges a value of a `replace` kind just stored, first taking it as the baseline when the kind adopts one. */
  private judgeReplaced(host: string, k: ServerEntryKind, key: string, value: unknown, now: number, res: ApplyResult): void {
    if (k.adoptsBaseline?.(value as never)) this.adoptBaseline.run(canonicalJson(value), host, k.kind, key);
    const row = this.rowOf.get(host, k.kind, key) as Row | undefined;
    const json = canonicalJson(value);
    const want = k.judge({ key, baseline: row?.baseline ? (JSON.parse(row.baseline) as never) : null, current: value as never, currentJson: json }, this.judgeCtx(host));
    this.reconcile(host, key, k, want, now, res);
  }

  /** Sets the whole set of a `replace` kind: unlisted entries are dropped and their alarms resolved. */
  private replaceKind(host: string, k: ServerEntryKind, values: unknown[], now: number, res: ApplyResult): void {
    const items = values.map((v) => [keyOf(k, v), v] as const);
    const keep = new Set(items.map(([key]) => key));
    for (const row of this.rowsOf.all(host, k.kind) as Row[]) {
      if (keep.has(row.key)) continue;
      sql(this.db, 'DELETE FROM measured WHERE host = ? AND kind = ? AND key = ?').run(host, k.kind, row.key);
      this.reconcile(host, row.key, k, new Map(), now, res);
    }
    for (const [key, v] of items) {
      this.upsert.run(host, k.kind, key, null, canonicalJson(v), now);
      this.judgeReplaced(host, k, key, v, now, res);
    }
  }
}
