import type { AlarmKind } from '../../shared/alarm-kinds.ts';
import type { Report, StateEvent } from '../../shared/protocol.ts';
import { canonicalJson, type EntryKind, stateDigest } from '../../shared/state-digest.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import type { GroupPeers } from '../fleet/fleet-peers.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import { measuredKey, textKeyIs } from '../storage/text-key.ts';
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
 * from comparing them. Writes happen in one transaction per report or event,
 * alarms included, so a crash never leaves state and alarms apart.
 */
export class BaselineStore {
  constructor(
    private readonly sql: SqlDb,
    private readonly alarms: AlarmStore,
    private readonly peers: GroupPeers,
  ) {}

  private judgeCtx(host: string, q: Queryable): JudgeContext {
    // One lookup in the alarms_open index per subject: the cost of an event does not grow with the open alarms.
    const isOpen = async (h: string, kind: AlarmKind, subject: string) =>
      (await q.get(`SELECT 1 AS one FROM alarms WHERE host = @h AND kind = @kind AND ${textKeyIs(q.engine, 'subject', '@subject')} AND resolved_at IS NULL`, {
        h,
        kind,
        subject,
      })) !== undefined;
    return { host, peers: this.peers, q, isOpen };
  }

  private upsert(q: Queryable, host: string, kind: EntryKind, key: string, current: string, now: number): Promise<number> {
    return q.run(
      `INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, NULL, ?, ?)
       ON CONFLICT ${measuredKey(q.engine)} DO UPDATE SET current = excluded.current, updated_at = excluded.updated_at`,
      [host, kind, key, current, now],
    );
  }

  /** Sorted by key as SQLite compares text (PostgreSQL would order by its collation): alarms open in the same order on both engines. */
  private async rowsOf(q: Queryable, host: string, kind: EntryKind): Promise<Row[]> {
    const rows = await q.all<Row>('SELECT kind, key, baseline, current FROM measured WHERE host = ? AND kind = ?', [host, kind]);
    return rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private rowOf(q: Queryable, host: string, kind: EntryKind, key: string): Promise<Row | undefined> {
    return q.get<Row>(`SELECT kind, key, baseline, current FROM measured WHERE host = @host AND kind = @kind AND ${textKeyIs(q.engine, 'key', '@key')}`, { host, kind, key });
  }

  private dropRow(q: Queryable, host: string, kind: EntryKind, key: string): Promise<number> {
    return q.run(`DELETE FROM measured WHERE host = @host AND kind = @kind AND ${textKeyIs(q.engine, 'key', '@key')}`, { host, kind, key });
  }

  private takeCurrent(q: Queryable, host: string, kind: EntryKind, key: string): Promise<number> {
    return q.run(`UPDATE measured SET baseline = current WHERE host = @host AND kind = @kind AND ${textKeyIs(q.engine, 'key', '@key')}`, { host, kind, key });
  }

  /** Whether the host has a baseline taken under its current certificate. */
  async hasBaseline(host: string, q: Queryable = this.sql): Promise<boolean> {
    const r = await q.get<{ b: string | null; h: string | null }>(
      'SELECT b.cert_serial AS b, h.cert_serial AS h FROM baseline_hosts b JOIN hosts h ON h.host = b.host WHERE b.host = ?',
      [host],
    );
    return !!r && r.b === r.h;
  }

  /** The digest of the host's current state, as the agent computes it over its own. */
  async digest(host: string): Promise<string> {
    const rows = await this.sql.all<{ kind: EntryKind; key: string; json: string }>('SELECT kind, key, current AS json FROM measured WHERE host = ? AND current IS NOT NULL', [
      host,
    ]);
    return stateDigest(rows);
  }

  /** Applies a full report: the first after enrollment becomes the baseline; later ones are judged. */
  applyReport(host: string, r: MeasuredReport, now: number, image: { path: string; sha256: string } | null = null): Promise<ApplyResult> {
    return this.sql.tx(async (tx): Promise<ApplyResult> => {
      const res: ApplyResult = { established: false, opened: [], resolved: 0 };
      if (!(await this.hasBaseline(host, tx))) {
        res.established = true;
        await tx.run('DELETE FROM measured WHERE host = ?', [host]);
        const serial = (await tx.get<{ cert_serial: string | null }>('SELECT cert_serial FROM hosts WHERE host = ?', [host]))?.cert_serial ?? null;
        await tx.run(
          `INSERT INTO baseline_hosts (host, cert_serial, established_at, reported_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (host) DO UPDATE SET cert_serial = excluded.cert_serial, established_at = excluded.established_at, reported_at = excluded.reported_at`,
          [host, serial, now, now],
        );
        const differing: [ServerEntryKind, string][] = [];
        for (const k of BASELINED) {
          for (const v of valuesIn(k, r)) {
            const key = keyOf(k, v);
            const j = canonicalJson(v);
            const b = k.initialBaseline ? canonicalJson(k.initialBaseline(v as never, image)) : j;
            // A report listing a key twice keeps the last value, as the agent's own state does.
            await tx.run(
              `INSERT INTO measured (host, kind, key, baseline, current, updated_at) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT ${measuredKey(tx.engine)} DO UPDATE SET baseline = excluded.baseline, current = excluded.current, updated_at = excluded.updated_at`,
              [host, k.kind, key, b, j, now],
            );
            if (b !== j) differing.push([k, key]);
          }
        }
        // Alarms left from an earlier baseline (a re-enrolled host) no longer mean anything.
        for (const a of await this.openAlarms(host, tx)) if (baselinedAlarm(a.kind)) res.resolved += await this.alarms.resolve(host, a.kind, now, a.subject, tx);
        for (const [k, key] of differing) await this.judgeRow(tx, k, host, (await this.rowOf(tx, host, k.kind, key))!, now, res);
      } else {
        await tx.run('UPDATE baseline_hosts SET reported_at = ? WHERE host = ?', [now, host]);
        for (const k of BASELINED) {
          const reported = new Set<string>();
          for (const v of valuesIn(k, r)) {
            const key = keyOf(k, v);
            reported.add(key);
            await this.upsert(tx, host, k.kind, key, canonicalJson(v), now);
          }
          for (const row of await this.rowsOf(tx, host, k.kind)) {
            if (reported.has(row.key)) {
              await this.judgeRow(tx, k, host, row, now, res);
            } else {
              if (row.current !== null) await this.setGone(tx, host, row, now);
              await this.judgeRow(tx, k, host, { ...row, current: null }, now, res);
            }
          }
        }
      }
      for (const k of REPLACED) await this.replaceKind(tx, host, k, valuesIn(k, r), now, res);
      return res;
    });
  }

  /**
   * Applies changes sent at once by the agent; judged against the baseline when there is one. Inside a
   * transaction of the caller (the event ledger's), pass its `tx`: the event is applied in it.
   */
  applyEvent(host: string, e: MeasuredEvent, now: number, q?: Queryable): Promise<ApplyResult> {
    return q ? this.applyEventIn(q, host, e, now) : this.sql.tx((tx) => this.applyEventIn(tx, host, e, now));
  }

  private async applyEventIn(tx: Queryable, host: string, e: MeasuredEvent, now: number): Promise<ApplyResult> {
    const res: ApplyResult = { established: false, opened: [], resolved: 0 };
    const judging = await this.hasBaseline(host, tx);
    for (const k of SERVER_KINDS) {
      for (const v of valuesIn(k, e)) {
        const key = keyOf(k, v);
        await this.upsert(tx, host, k.kind, key, canonicalJson(v), now);
        if (k.lifecycle === 'replace') await this.judgeReplaced(tx, host, k, key, v, now, res);
        else if (judging) await this.judgeRow(tx, k, host, (await this.rowOf(tx, host, k.kind, key))!, now, res);
      }
      for (const key of goneIn(k, e)) {
        const row = await this.rowOf(tx, host, k.kind, key);
        if (!row || row.current === null) continue;
        await this.setGone(tx, host, row, now);
        if (judging) await this.judgeRow(tx, k, host, { ...row, current: null }, now, res);
      }
    }
    return res;
  }

  /**
   * Takes the current state into the baseline: every file, listening port and
   * daemon binary of the host, or the named paths (a directory names everything
   * under it), port keys (`tcp/0.0.0.0:22`) and daemons (by name or binary path). Resolves the alarms of what it took.
   * On a sample host, the group's open file alarms on those paths are judged
   * again, so changes that now match the sample become `expected`. Inside a
   * transaction of the caller (`accept --group`), pass its `tx`.
   */
  accept(host: string, paths: string[] | null, now: number, q?: Queryable): Promise<{ accepted: string[]; unmatched: string[]; reclassified: number }> {
    return q ? this.acceptIn(q, host, paths, now) : this.sql.tx((tx) => this.acceptIn(tx, host, paths, now));
  }

  private async acceptIn(tx: Queryable, host: string, paths: string[] | null, now: number): Promise<{ accepted: string[]; unmatched: string[]; reclassified: number }> {
    const rows: Row[] = [];
    for (const k of BASELINED) rows.push(...(await this.rowsOf(tx, host, k.kind)));
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
      if (row.current === null) await this.dropRow(tx, host, row.kind, row.key);
      else if (row.baseline !== row.current) await this.takeCurrent(tx, host, row.kind, row.key);
      accepted.push(row.key);
    }
    // Alarms whose subject has no row any more (accepted earlier, or never reported) resolve too.
    for (const a of await this.openAlarms(host, tx)) {
      if (baselinedAlarm(a.kind) && hits(a.subject)) {
        await this.alarms.resolve(host, a.kind, now, a.subject, tx);
        if (!accepted.includes(a.subject)) accepted.push(a.subject);
      }
    }
    // Kinds with a baseline of their own (daemons, by name or binary path): the value running now becomes it.
    for (const k of REPLACED) {
      if (!k.accept) continue;
      for (const row of await this.rowsOf(tx, host, k.kind)) {
        if (row.current === null) continue;
        const v = JSON.parse(row.current) as never;
        if (!hits(row.key) && !k.accept.names(v).some(hits)) continue;
        if (k.accept.takes(v)) await this.takeCurrent(tx, host, row.kind, row.key);
        await this.judgeReplaced(tx, host, k, row.key, v, now, { established: false, opened: [], resolved: 0 });
        if (!accepted.includes(row.key)) accepted.push(row.key);
      }
    }
    let reclassified = 0;
    for (const k of SERVER_KINDS) {
      for (const t of (await k.rejudgeAfterAccept?.(host, accepted, this.judgeCtx(host, tx))) ?? []) {
        const res: ApplyResult = { established: false, opened: [], resolved: 0 };
        await this.judgeRow(tx, k, t.host, (await this.rowOf(tx, t.host, k.kind, t.key))!, now, res);
        reclassified += res.opened.length;
      }
    }
    return { accepted: accepted.sort(), unmatched: paths ? paths.filter((p) => !matched.has(p)) : [], reclassified };
  }

  private openAlarms(host: string, q: Queryable): Promise<{ kind: AlarmKind; subject: string }[]> {
    return q.all<{ kind: AlarmKind; subject: string }>('SELECT kind, subject FROM alarms WHERE host = ? AND resolved_at IS NULL ORDER BY id', [host]);
  }

  private async setGone(q: Queryable, host: string, row: Row, now: number): Promise<void> {
    if (row.baseline === null) await this.dropRow(q, host, row.kind, row.key);
    else
      await q.run(`UPDATE measured SET current = NULL, updated_at = @now WHERE host = @host AND kind = @kind AND ${textKeyIs(q.engine, 'key', '@key')}`, {
        now,
        host,
        kind: row.kind,
        key: row.key,
      });
  }

  /** Opens the alarms a verdict wants and resolves the host's other alarms of the kind's alarm kinds for that subject. */
  private async reconcile(q: Queryable, host: string, subject: string, k: ServerEntryKind, want: Map<AlarmKind, Want>, now: number, res: ApplyResult): Promise<void> {
    for (const kind of k.alarms) {
      const w = want.get(kind);
      const open = await q.get<{ detail: string | null }>(
        `SELECT detail FROM alarms WHERE host = @host AND kind = @kind AND ${textKeyIs(q.engine, 'subject', '@subject')} AND resolved_at IS NULL`,
        { host, kind, subject },
      );
      let isOpen = open !== undefined;
      if (w?.classKey !== undefined && open && (k.classKeyOf?.(open.detail ? JSON.parse(open.detail) : null) ?? '') !== w.classKey) {
        res.resolved += await this.alarms.resolve(host, kind, now, subject, q);
        isOpen = false;
      }
      if (w && !isOpen) {
        const id = await this.alarms.open(host, kind, subject, now, w.detail, w.severity, q);
        if (id !== null) res.opened.push({ id, kind, subject });
      } else if (!w && isOpen) {
        res.resolved += await this.alarms.resolve(host, kind, now, subject, q);
      }
    }
  }

  /** Judges one stored row of a kind and reconciles its alarms; a row with neither side left is dropped. */
  private async judgeRow(q: Queryable, k: ServerEntryKind, host: string, row: Row, now: number, res: ApplyResult): Promise<void> {
    const want = await k.judge(
      {
        key: row.key,
        baseline: row.baseline ? (JSON.parse(row.baseline) as never) : null,
        current: row.current ? (JSON.parse(row.current) as never) : null,
        currentJson: row.current,
      },
      this.judgeCtx(host, q),
    );
    await this.reconcile(q, host, row.key, k, want, now, res);
    if (!row.baseline && !row.current) await this.dropRow(q, host, k.kind, row.key);
  }

  /** Judges a value of a `replace` kind just stored, first taking it as the baseline when the kind adopts one. */
  private async judgeReplaced(q: Queryable, host: string, k: ServerEntryKind, key: string, value: unknown, now: number, res: ApplyResult): Promise<void> {
    const json = canonicalJson(value);
    if (k.adoptsBaseline?.(value as never))
      await q.run(`UPDATE measured SET baseline = @json WHERE host = @host AND kind = @kind AND ${textKeyIs(q.engine, 'key', '@key')} AND baseline IS NULL`, {
        json,
        host,
        kind: k.kind,
        key,
      });
    const row = await this.rowOf(q, host, k.kind, key);
    const want = await k.judge({ key, baseline: row?.baseline ? (JSON.parse(row.baseline) as never) : null, current: value as never, currentJson: json }, this.judgeCtx(host, q));
    await this.reconcile(q, host, key, k, want, now, res);
  }

  /** Sets the whole set of a `replace` kind: unlisted entries are dropped and their alarms resolved. */
  private async replaceKind(q: Queryable, host: string, k: ServerEntryKind, values: unknown[], now: number, res: ApplyResult): Promise<void> {
    const items = values.map((v) => [keyOf(k, v), v] as const);
    const keep = new Set(items.map(([key]) => key));
    for (const row of await this.rowsOf(q, host, k.kind)) {
      if (keep.has(row.key)) continue;
      await this.dropRow(q, host, k.kind, row.key);
      await this.reconcile(q, host, row.key, k, new Map(), now, res);
    }
    for (const [key, v] of items) {
      await this.upsert(q, host, k.kind, key, canonicalJson(v), now);
      await this.judgeReplaced(q, host, k, key, v, now, res);
    }
  }
}
