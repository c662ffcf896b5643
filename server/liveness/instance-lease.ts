import { randomUUID } from 'node:crypto';
import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import { serverError } from '../errors.ts';
import type { Queryable, SqlDb } from '../storage/engine.ts';
import { processGone, processMark } from './process-mark.ts';
import { StoppedHolderFence } from './stopped-holder-fence.ts';

/** How often an instance renews its lease (ms). */
export const LEASE_RENEW_MS = 2_000;
/** A lease not renewed for this long has lapsed: its instance is down (ms). Five renewals: a loaded machine misses some. */
export const LEASE_TIMEOUT_MS = 10_000;

/**
 * A renewal not committed within this long counts as the database failing this instance (ms): a connection
 * that stops answering without a reset, or a lock on the lease's row, would otherwise hold the renewal, and
 * the outage with it, unseen until it completes. The outage counts from the last renewal that committed, so
 * the hold is in place before a host with the default deadline (late 15 s after its last heartbeat) could be
 * judged: renewal period + this < 15 s. Not shorter: under a storm a renewal may queue for a pool connection
 * for seconds, and a false outage restarts the reconnect grace (Liveness.storeBack).
 */
export const LEASE_RENEW_TIMEOUT_MS = 8_000;

/** The alarm a survivor raises for an instance whose lease lapsed. */
export const INSTANCE_DOWN = { kind: 'server-instance-down', subject: 'serve instance stopped renewing its lease' } as const;

/** An instance as `instances --json` prints it (docs/REFERENCE.md names). */
export interface InstanceView {
  name: string;
  status: 'up' | 'down';
  lastSeen: string;
  /** Agents connected to it now (0 when it is down). */
  agents: number;
}

/**
 * Who is told that this instance could not write the database (a renewal failed: `storeDown` with the time of
 * the last renewal that committed) and that it can again (`storeBack` at the first renewal after): Liveness,
 * which holds deadlines by the outage as by a stall of its own.
 */
export interface StoreOutage {
  storeDown(since: number): void;
  storeBack(at: number): void;
  /** During the outage, the database answered others at `at` (see InstanceLease's probe). */
  storeAnswers?(at: number): void;
}

/** What a survivor does for the hosts of an instance it found down: spare them while they reconnect elsewhere. */
export type SpareHosts = (instance: string, now: number, q: Queryable) => Promise<void>;

export interface InstanceLeaseOptions {
  /** This instance's name (server.yml `instance`). */
  name: string;
  clock: Clock;
  log?: Logger;
  /** Called in the transaction that declares an instance down, with that transaction as `q`. */
  spare: SpareHosts;
  /** Told when renewals fail and when they succeed again (the database's outages as this instance saw them). */
  outage?: StoreOutage;
  renewMs?: number;
  timeoutMs?: number;
  /** See {@link LEASE_RENEW_TIMEOUT_MS}. */
  renewTimeoutMs?: number;
  /** SQLite: what ends another instance stopped while holding the write lock (see {@link StoppedHolderFence}). */
  fence?: Pick<StoppedHolderFence, 'check'>;
}

interface Row {
  name: string;
  lastSeen: number;
  agents: number;
  downAt: number | null;
  stoppedAt: number | null;
  token: string;
}

/**
 * This instance's lease in the shared database, and its watch over the others' (the healthchecks model
 * applied to the servers themselves): each instance renews a row every {@link LEASE_RENEW_MS}; each
 * looks for rows not renewed for {@link LEASE_TIMEOUT_MS} and declares such an instance down with a
 * conditional UPDATE, so with any number of survivors exactly one wins, and it raises
 * `server-instance-down` and spares that instance's hosts in the same transaction. The instance's own
 * next renewal resolves the alarm. A clean stop marks the row stopped: no alarm.
 */
export class InstanceLease {
  readonly name: string;
  /**
   * Tells this process's renewals from another's that took the same name; after a space, the process's
   * {@link processMark}, by which a restart on this machine sees that its predecessor is dead.
   */
  private readonly token = `${randomUUID()} ${processMark() ?? ''}`;
  private readonly renewMs: number;
  private readonly timeoutMs: number;
  private readonly renewTimeoutMs: number;
  private lastRenew = -Infinity;
  /** A renewal that outlived its bound and has not settled yet: no other is started beside it. */
  private hung: Promise<void> | null = null;
  /** A probe of the database runs (see {@link probe}); when the last began. */
  private probing = false;
  private lastProbe = -Infinity;
  /** When the first renewal of the outage now open was started (null: no outage). */
  private failedAt: number | null = null;
  /** Until when this instance declares no other down (see {@link tick}). */
  private watchHeldUntil = -Infinity;
  private readonly fence: Pick<StoppedHolderFence, 'check'> | null;
  /** Instances the fence ended and the watch has not declared down yet: name, pid. */
  private readonly ended = new Map<string, number>();

  constructor(
    private readonly sql: SqlDb,
    private readonly alarms: AlarmStore,
    private readonly o: InstanceLeaseOptions,
  ) {
    this.name = o.name;
    this.renewMs = o.renewMs ?? LEASE_RENEW_MS;
    this.timeoutMs = o.timeoutMs ?? LEASE_TIMEOUT_MS;
    this.renewTimeoutMs = o.renewTimeoutMs ?? LEASE_RENEW_TIMEOUT_MS;
    this.fence = o.fence ?? (sql.engine === 'sqlite' ? new StoppedHolderFence(sql, { name: o.name, clock: o.clock, log: o.log, timeoutMs: this.timeoutMs }) : null);
  }

  /**
   * Takes the lease at start. When a row of this name was renewed within the timeout by another process
   * and not stopped, waits one renewal period (plus a second): a killed predecessor stays silent and is
   * replaced; a live twin renews, and this start is refused. No wait when the row's process was on this
   * machine and has ended (a restart after `kill -9` or a crash): the agents are already reconnecting.
   * @throws TwError TW_INSTANCE_TAKEN when another running instance uses this name.
   */
  async acquire(wait: (ms: number) => Promise<void>): Promise<void> {
    const before = await this.row(this.name, this.sql);
    const now = this.o.clock.now();
    if (before && before.stoppedAt === null && before.downAt === null && now - before.lastSeen < this.timeoutMs && !holderGone(before.token)) {
      await wait(this.renewMs + 1000);
      const after = await this.row(this.name, this.sql);
      if (after && after.token === before.token && after.lastSeen !== before.lastSeen && after.stoppedAt === null) {
        throw serverError('TW_INSTANCE_TAKEN', `instance "${this.name}" is renewing its lease in this database from another process`);
      }
    }
    await this.sql.tx(async (tx) => {
      const t = this.o.clock.now();
      const was = await this.row(this.name, tx);
      await tx.run(
        `INSERT INTO instances (name, started_at, last_seen, agents, down_at, stopped_at, token) VALUES (@name, @t, @t, 0, NULL, NULL, @token)
         ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, last_seen = excluded.last_seen, agents = 0, down_at = NULL, stopped_at = NULL, token = excluded.token`,
        { name: this.name, t, token: this.token },
      );
      if (was?.downAt != null) await this.alarms.resolve(this.name, INSTANCE_DOWN.kind, t, undefined, tx);
    });
    this.lastRenew = this.o.clock.now();
  }

  /**
   * One pass, from the server's tick: renews this lease when due (with the agents connected now), then
   * declares down every other instance whose lease lapsed. Returns the instances it declared down. A renewal
   * that fails, or does not commit within {@link LEASE_RENEW_TIMEOUT_MS}, is an outage of the database
   * (`storeDown`); while a timed-out renewal still hangs, the pass does nothing more (the outage stays open).
   * @throws TwError TW_DB_STALLED when the renewal timed out; the renewal's own error when it failed.
   */
  async tick(agents: number): Promise<string[]> {
    const now = this.o.clock.now();
    if (this.hung !== null) {
      this.probe(now);
      return [];
    }
    if (now - this.lastRenew >= this.renewMs) {
      const gap = now - this.lastRenew;
      // Writes failing already: a stopped holder of the file's lock is ended before this renewal waits on it.
      if (this.failedAt !== null) await this.fenceStopped();
      const renewal = this.renew(now, agents);
      try {
        await this.bounded(renewal, () => this.hangs(renewal));
      } catch (err) {
        // The renewal is a write every few seconds: its failure is the database failing this instance's writes
        // (heartbeats included) since the last renewal that committed, at the latest.
        if (Number.isFinite(this.lastRenew)) {
          this.failedAt ??= now;
          this.o.outage?.storeDown(this.lastRenew);
          this.probe(now);
        }
        await this.fenceStopped();
        throw err;
      }
      this.failedAt = null;
      this.o.outage?.storeBack(this.o.clock.now());
      // This instance missed renewals of its own (the database was unreachable, or the process frozen): the
      // others most likely missed theirs for the same reason. They get two renewal periods to renew before
      // any is declared down, or a database outage longer than the timeout would declare every instance down.
      if (Number.isFinite(gap) && gap > 1.5 * this.renewMs) this.watchHeldUntil = now + 2 * this.renewMs;
    }
    // The hold is for instances that missed renewals for the reason this one did; one the fence ended is dead.
    if (now < this.watchHeldUntil) return this.ended.size ? this.watch(now, this.ended) : [];
    return this.watch(now);
  }

  /** Runs the fence (SQLite), noting the instance it ended; a failing check is logged, never thrown. */
  private async fenceStopped(): Promise<void> {
    if (!this.fence) return;
    try {
      const f = await this.fence.check();
      if (f) this.ended.set(f.instance, f.pid);
    } catch (err) {
      this.o.log?.error({ err: (err as Error).message }, 'could not check the database write lock holder');
    }
  }

  /**
   * Waits for `work` at most {@link LEASE_RENEW_TIMEOUT_MS} (on the injected clock), then rejects with what
   * `late` returns; `work` is left to settle by itself.
   */
  private bounded<T>(work: Promise<T>, late: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = this.o.clock.setTimeout(() => {
        if (done) return;
        done = true;
        reject(late());
      }, this.renewTimeoutMs);
      work.then(
        (v) => {
          if (done) return;
          done = true;
          this.o.clock.clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          if (done) return;
          done = true;
          this.o.clock.clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /**
   * A renewal that outlived its bound: kept in {@link hung} until it settles (it may still commit, and its
   * connection is busy meanwhile, so no second one is queued behind it).
   */
  private hangs(renewal: Promise<void>): Error {
    const hung = renewal.then(
      () => {},
      () => {},
    );
    this.hung = hung;
    void hung.then(() => {
      if (this.hung === hung) this.hung = null;
    });
    return serverError('TW_DB_STALLED', `the lease renewal of instance "${this.name}" did not commit within ${this.renewTimeoutMs / 1000} s`);
  }

  /**
   * While this instance's renewals fail or hang (at most once a renewal period, one at a time, bounded):
   * whether the database answers others. Another instance renewed its lease after this one's renewal began
   * to fail (their clocks, not this one's: an instance whose clock runs ahead can make it seem so), or a write
   * on another connection commits: the outage is then this instance's alone (a lock on its lease
   * row, a hung connection), and Liveness holds deadlines by it no longer than by a stall. PostgreSQL only:
   * SQLite has one connection and one write lock, so there a failed renewal is the store failing.
   */
  private probe(now: number): void {
    if (this.sql.engine !== 'postgres' || !this.o.outage?.storeAnswers || this.probing || now - this.lastProbe < this.renewMs) return;
    this.probing = true;
    this.lastProbe = now;
    const since = this.failedAt ?? now;
    const answers = (async () => {
      if (await this.sql.get('SELECT 1 AS one FROM instances WHERE name != ? AND stopped_at IS NULL AND last_seen > ?', [this.name, since])) return;
      // A write that needs no row: it waits on no lock of this instance's lease, only on the database.
      await this.sql.tx(async (tx) => {
        await tx.run('UPDATE instances SET agents = agents WHERE 1 = 0');
      });
    })();
    const outage = this.o.outage;
    void answers.then(
      () => (this.probing = false),
      () => (this.probing = false),
    );
    // Not awaited: the pass goes on (and reports the outage) while the probe waits on the database.
    this.bounded(answers, () => new Error('no answer in time')).then(
      () => outage.storeAnswers?.(this.o.clock.now()),
      () => {
        // The database does not answer (in time): the outage is the store's, held in full.
      },
    );
  }

  /** Renews the lease; a lease found declared down is taken back and its alarm resolved, in one transaction. */
  async renew(now: number, agents: number): Promise<void> {
    await this.sql.tx(async (tx) => {
      const renewed = await tx.run('UPDATE instances SET last_seen = @now, agents = @agents, stopped_at = NULL, token = @token WHERE name = @name', {
        now,
        agents,
        name: this.name,
        token: this.token,
      });
      if (renewed === 0) {
        // ON CONFLICT: another connection may insert the same name between the UPDATE and here (PostgreSQL).
        await tx.run(
          `INSERT INTO instances (name, started_at, last_seen, agents, token) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen, agents = excluded.agents, stopped_at = NULL, token = excluded.token`,
          [this.name, now, now, agents, this.token],
        );
      }
      if ((await tx.run('UPDATE instances SET down_at = NULL WHERE name = ? AND down_at IS NOT NULL', [this.name])) === 1) {
        await this.alarms.resolve(this.name, INSTANCE_DOWN.kind, now, undefined, tx);
        this.o.log?.warn({ instance: this.name }, 'this instance had been declared down by another; lease renewed, alarm resolved');
      }
    });
    this.lastRenew = now;
  }

  /** Declares down the other instances whose lease lapsed; each by a conditional UPDATE that one survivor wins. */
  async watch(now: number, only?: ReadonlyMap<string, number>): Promise<string[]> {
    const cut = now - this.timeoutMs;
    const lapsed = (
      await this.sql.all<{ name: string }>('SELECT name FROM instances WHERE name != ? AND down_at IS NULL AND stopped_at IS NULL AND last_seen < ?', [this.name, cut])
    )
      .map((r) => r.name)
      .filter((name) => !only || only.has(name));
    const won: string[] = [];
    for (const name of lapsed) {
      try {
        const mine = await this.sql.tx(async (tx) => {
          // On PostgreSQL (READ COMMITTED) a second survivor's UPDATE waits for the first's row lock, then
          // re-reads the row, finds down_at set and updates nothing: one alarm, one spare.
          const r = await tx.get<{ lastSeen: number; agents: number }>(
            'UPDATE instances SET down_at = ? WHERE name = ? AND down_at IS NULL AND stopped_at IS NULL AND last_seen < ? RETURNING last_seen AS "lastSeen", agents',
            [now, name, cut],
          );
          if (!r) return false;
          await this.alarms.open(
            name,
            INSTANCE_DOWN.kind,
            INSTANCE_DOWN.subject,
            now,
            {
              instance: name,
              lastSeen: new Date(r.lastSeen).toISOString(),
              agents: r.agents,
              seenBy: this.name,
              ...(this.ended.has(name) ? { ended: { pid: this.ended.get(name), why: 'stopped while holding the database write lock' } } : {}),
            },
            undefined,
            tx,
          );
          await this.o.spare(name, now, tx);
          return true;
        });
        this.ended.delete(name);
        if (mine) {
          won.push(name);
          this.o.log?.warn({ instance: name }, 'instance stopped renewing its lease: declared down, its hosts spared while they reconnect');
        }
      } catch (err) {
        this.o.log?.error({ instance: name, err: (err as Error).message }, 'could not declare an instance down; retried at the next tick');
      }
    }
    return won;
  }

  /** The live instance other than this one that holds the host's connection, or null. */
  async otherHolder(host: string): Promise<string | null> {
    const r = await this.sql.get<{ instance: string }>(
      `SELECT h.instance FROM hosts h JOIN instances i ON i.name = h.instance
       WHERE h.host = ? AND h.connected = 1 AND h.instance != ? AND i.down_at IS NULL AND i.stopped_at IS NULL AND i.last_seen >= ?`,
      [host, this.name, this.o.clock.now() - this.timeoutMs],
    );
    return r?.instance ?? null;
  }

  /** Whether another instance's lease is live. */
  async othersLive(): Promise<boolean> {
    return !!(await this.sql.get('SELECT 1 AS one FROM instances WHERE name != ? AND down_at IS NULL AND stopped_at IS NULL AND last_seen >= ?', [
      this.name,
      this.o.clock.now() - this.timeoutMs,
    ]));
  }

  /** A clean stop: the row is marked stopped (listed as down, no alarm). */
  async stop(): Promise<void> {
    await this.sql.run('UPDATE instances SET stopped_at = ?, agents = 0 WHERE name = ? AND token = ?', [this.o.clock.now(), this.name, this.token]);
  }

  private row(name: string, q: Queryable): Promise<Row | undefined> {
    return q.get<Row>(ROW_SQL, [name]);
  }
}

/** Whether the process that wrote a lease token has certainly ended (a token without a mark: never known). */
function holderGone(token: string): boolean {
  const mark = token.slice(token.indexOf(' ') + 1);
  return token.includes(' ') && mark !== '' && processGone(mark);
}

const ROW_SQL = 'SELECT name, last_seen AS "lastSeen", agents, down_at AS "downAt", stopped_at AS "stoppedAt", token FROM instances WHERE name = ?';

/** The instances sharing the database, with their status at `now`, by name. */
export async function listInstances(q: Queryable, now: number, timeoutMs = LEASE_TIMEOUT_MS): Promise<InstanceView[]> {
  const rows = await q.all<Row>('SELECT name, last_seen AS "lastSeen", agents, down_at AS "downAt", stopped_at AS "stoppedAt" FROM instances ORDER BY name');
  return rows.map((r) => {
    const up = r.downAt === null && r.stoppedAt === null && now - r.lastSeen < timeoutMs;
    return { name: r.name, status: up ? 'up' : 'down', lastSeen: new Date(r.lastSeen).toISOString(), agents: up ? r.agents : 0 };
  });
}

/**
 * Removes an instance that is down for good (decommissioned, or renamed) from the list and resolves its
 * `server-instance-down`: without this a name that never renews again would keep the alarm open for ever.
 * Returns 'up' (refused: a live lease), 'unknown', or 'forgotten'.
 */
export function forgetInstance(sql: SqlDb, alarms: AlarmStore, name: string, now: number, timeoutMs = LEASE_TIMEOUT_MS): Promise<'up' | 'unknown' | 'forgotten'> {
  return sql.tx(async (tx): Promise<'up' | 'unknown' | 'forgotten'> => {
    const view = (await listInstances(tx, now, timeoutMs)).find((r) => r.name === name);
    if (!view) return 'unknown';
    if (view.status === 'up') return 'up';
    // Conditional on the lease still being lapsed: an instance that renewed since the read keeps its row.
    if ((await tx.run('DELETE FROM instances WHERE name = ? AND (down_at IS NOT NULL OR stopped_at IS NOT NULL OR last_seen <= ?)', [name, now - timeoutMs])) === 0) return 'up';
    await alarms.resolve(name, INSTANCE_DOWN.kind, now, undefined, tx);
    return 'forgotten';
  });
}

/** The names of the instances whose lease is live at `now` (SQL over `instances`, for the stores that spare hosts). */
export const LIVE_INSTANCES_SQL = 'SELECT name FROM instances WHERE down_at IS NULL AND stopped_at IS NULL AND last_seen >= @leaseCut';
