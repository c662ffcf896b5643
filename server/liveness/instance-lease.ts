import { randomUUID } from 'node:crypto';
import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { AlarmStore } from '../alarms/alarm-store.ts';
import { serverError } from '../errors.ts';
import type { Db } from '../storage/db.ts';

/** How often an instance renews its lease (ms). */
export const LEASE_RENEW_MS = 2_000;
/** A lease not renewed for this long has lapsed: its instance is down (ms). Five renewals: a loaded machine misses some. */
export const LEASE_TIMEOUT_MS = 10_000;

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

/** What a survivor does for the hosts of an instance it found down: spare them while they reconnect elsewhere. */
export type SpareHosts = (instance: string, now: number) => void;

export interface InstanceLeaseOptions {
  /** This instance's name (server.yml `instance`). */
  name: string;
  clock: Clock;
  log?: Logger;
  /** Called in the transaction that declares an instance down. */
  spare: SpareHosts;
  renewMs?: number;
  timeoutMs?: number;
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
  /** Tells this process's renewals from another's that took the same name. */
  private readonly token = randomUUID();
  private readonly renewMs: number;
  private readonly timeoutMs: number;
  private lastRenew = -Infinity;

  constructor(
    private readonly db: Db,
    private readonly alarms: AlarmStore,
    private readonly o: InstanceLeaseOptions,
  ) {
    this.name = o.name;
    this.renewMs = o.renewMs ?? LEASE_RENEW_MS;
    this.timeoutMs = o.timeoutMs ?? LEASE_TIMEOUT_MS;
  }

  /**
   * Takes the lease at start. When a row of this name was renewed within the timeout by another process
   * and not stopped, waits one renewal period (plus a second): a killed predecessor stays silent and is
   * replaced; a live twin renews, and this start is refused.
   * @throws TwError TW_INSTANCE_TAKEN when another running instance uses this name.
   */
  async acquire(wait: (ms: number) => Promise<void>): Promise<void> {
    const before = this.row(this.name);
    const now = this.o.clock.now();
    if (before && before.stoppedAt === null && before.downAt === null && now - before.lastSeen < this.timeoutMs) {
      await wait(this.renewMs + 1000);
      const after = this.row(this.name);
      if (after && after.token === before.token && after.lastSeen !== before.lastSeen && after.stoppedAt === null) {
        throw serverError('TW_INSTANCE_TAKEN', `instance "${this.name}" is renewing its lease in this database from another process`);
      }
    }
    this.db
      .transaction(() => {
        const t = this.o.clock.now();
        const was = this.row(this.name);
        this.db
          .prepare(
            `INSERT INTO instances (name, started_at, last_seen, agents, down_at, stopped_at, token) VALUES (@name, @t, @t, 0, NULL, NULL, @token)
             ON CONFLICT(name) DO UPDATE SET started_at = @t, last_seen = @t, agents = 0, down_at = NULL, stopped_at = NULL, token = @token`,
          )
          .run({ name: this.name, t, token: this.token });
        if (was?.downAt != null) this.alarms.resolve(this.name, INSTANCE_DOWN.kind, t);
      })
      .immediate();
    this.lastRenew = this.o.clock.now();
  }

  /**
   * One pass, from the server's tick: renews this lease when due (with the agents connected now), then
   * declares down every other instance whose lease lapsed. Returns the instances it declared down.
   */
  tick(agents: number): string[] {
    const now = this.o.clock.now();
    if (now - this.lastRenew >= this.renewMs) this.renew(now, agents);
    return this.watch(now);
  }

  /** Renews the lease; a lease found declared down is taken back and its alarm resolved, in one transaction. */
  renew(now: number, agents: number): void {
    this.db
      .transaction(() => {
        const renewed = this.db
          .prepare('UPDATE instances SET last_seen = @now, agents = @agents, stopped_at = NULL, token = @token WHERE name = @name')
          .run({ now, agents, name: this.name, token: this.token }).changes;
        if (renewed === 0) {
          this.db.prepare('INSERT INTO instances (name, started_at, last_seen, agents, token) VALUES (?, ?, ?, ?, ?)').run(this.name, now, now, agents, this.token);
        }
        if (this.db.prepare('UPDATE instances SET down_at = NULL WHERE name = ? AND down_at IS NOT NULL').run(this.name).changes === 1) {
          this.alarms.resolve(this.name, INSTANCE_DOWN.kind, now);
          this.o.log?.warn({ instance: this.name }, 'this instance had been declared down by another; lease renewed, alarm resolved');
        }
      })
      .immediate();
    this.lastRenew = now;
  }

  /** Declares down the other instances whose lease lapsed; each by a conditional UPDATE that one survivor wins. */
  watch(now: number): string[] {
    const cut = now - this.timeoutMs;
    const lapsed = this.db
      .prepare('SELECT name FROM instances WHERE name != ? AND down_at IS NULL AND stopped_at IS NULL AND last_seen < ?')
      .pluck()
      .all(this.name, cut) as string[];
    const won: string[] = [];
    for (const name of lapsed) {
      try {
        const mine = this.db
          .transaction(() => {
            const r = this.db
              .prepare('UPDATE instances SET down_at = ? WHERE name = ? AND down_at IS NULL AND stopped_at IS NULL AND last_seen < ? RETURNING last_seen AS lastSeen, agents')
              .get(now, name, cut) as { lastSeen: number; agents: number } | undefined;
            if (!r) return false;
            this.alarms.open(name, INSTANCE_DOWN.kind, INSTANCE_DOWN.subject, now, {
              instance: name,
              lastSeen: new Date(r.lastSeen).toISOString(),
              agents: r.agents,
              seenBy: this.name,
            });
            this.o.spare(name, now);
            return true;
          })
          .immediate();
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
  otherHolder(host: string): string | null {
    const r = this.db
      .prepare(
        `SELECT h.instance FROM hosts h JOIN instances i ON i.name = h.instance
         WHERE h.host = ? AND h.connected = 1 AND h.instance != ? AND i.down_at IS NULL AND i.stopped_at IS NULL AND i.last_seen >= ?`,
      )
      .pluck()
      .get(host, this.name, this.o.clock.now() - this.timeoutMs) as string | undefined;
    return r ?? null;
  }

  /** Whether another instance's lease is live. */
  othersLive(): boolean {
    return !!this.db
      .prepare('SELECT 1 FROM instances WHERE name != ? AND down_at IS NULL AND stopped_at IS NULL AND last_seen >= ?')
      .get(this.name, this.o.clock.now() - this.timeoutMs);
  }

  /** A clean stop: the row is marked stopped (listed as down, no alarm). */
  stop(): void {
    this.db.prepare('UPDATE instances SET stopped_at = ?, agents = 0 WHERE name = ? AND token = ?').run(this.o.clock.now(), this.name, this.token);
  }

  private row(name: string): Row | undefined {
    return this.db.prepare('SELECT name, last_seen AS lastSeen, agents, down_at AS downAt, stopped_at AS stoppedAt, token FROM instances WHERE name = ?').get(name) as
      | Row
      | undefined;
  }
}

/** The instances sharing the database, with their status at `now`, by name. */
export function listInstances(db: Db, now: number, timeoutMs = LEASE_TIMEOUT_MS): InstanceView[] {
  const rows = db.prepare('SELECT name, last_seen AS lastSeen, agents, down_at AS downAt, stopped_at AS stoppedAt FROM instances ORDER BY name').all() as Row[];
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
export function forgetInstance(db: Db, alarms: AlarmStore, name: string, now: number, timeoutMs = LEASE_TIMEOUT_MS): 'up' | 'unknown' | 'forgotten' {
  return db
    .transaction((): 'up' | 'unknown' | 'forgotten' => {
      const view = listInstances(db, now, timeoutMs).find((r) => r.name === name);
      if (!view) return 'unknown';
      if (view.status === 'up') return 'up';
      db.prepare('DELETE FROM instances WHERE name = ?').run(name);
      alarms.resolve(name, INSTANCE_DOWN.kind, now);
      return 'forgotten';
    })
    .immediate();
}

/** The names of the instances whose lease is live at `now` (SQL over `instances`, for the stores that spare hosts). */
export const LIVE_INSTANCES_SQL = 'SELECT name FROM instances WHERE down_at IS NULL AND stopped_at IS NULL AND last_seen >= @leaseCut';
