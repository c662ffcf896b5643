import type { Clock } from '../../shared/clock.ts';
import { LEASE_TIMEOUT_MS } from '../liveness/instance-lease.ts';
import type { CommandQueue } from '../storage/command-queue.ts';
import type { SqlDb } from '../storage/engine.ts';
import { GroupCommit, type GroupCommitOptions } from './group-commit.ts';

/** A live connection of a host held by another instance, as its row says. */
export interface RemoteSession {
  connId: string;
  instance: string;
  bootId: string;
  /** The peer's address and port on that instance. */
  remote: string;
  /** When its hello was accepted there (ms since the epoch). */
  openedAt: number;
}

/** This instance's connection as it registers at hello. */
export interface LocalSession {
  connId: string;
  host: string;
  bootId: string;
  remote: string;
}

/**
 * The live-session registry across the `serve` instances sharing the database (table `live_sessions`):
 * what {@link SessionRegistry} holds in memory for one process, written where every instance reads it. A
 * row is written at hello and deleted at close: nothing per heartbeat. Rows count only while their
 * instance's lease is live, so an instance that was killed holds nothing once its lease lapses (its rows are
 * deleted when it is declared down, and at its next start).
 */
export class LiveSessionStore {
  constructor(
    private readonly sql: SqlDb,
    /** This instance's name (server.yml `instance`). */
    readonly instance: string,
    private readonly clock: Clock,
    /** Where `close-session` goes to the instance holding a superseded connection. */
    private readonly commands: CommandQueue,
    private readonly leaseTimeoutMs = LEASE_TIMEOUT_MS,
    /** Registrations gathered into one write and one read (a reconnect storm); absent: each alone. */
    group?: GroupCommitOptions,
  ) {
    if (group) this.group = new GroupCommit((list) => this.openMany(list), group);
  }

  private readonly group?: GroupCommit<LocalSession, RemoteSession[]>;

  /**
   * A hello being accepted here, judged against the host's connections on the other instances: one of
   * another boot is a second process holding the agent's key (`clones`); one of the same boot is the agent
   * that moved here (`moved`: pass them to {@link supersede} once the hello is accepted, so that a replayed
   * hello closes nothing).
   */
  async hello(s: LocalSession): Promise<{ clones: RemoteSession[]; moved: RemoteSession[] }> {
    const rows = await this.open(s);
    return { clones: rows.filter((r) => r.bootId !== s.bootId), moved: rows.filter((r) => r.bootId === s.bootId) };
  }

  /**
   * The agent moved here from these connections: their rows are dropped, and their instances told through
   * the command queue to close those sockets (as `revoke` reaches them). Of two instances superseding one
   * row, the one whose delete wins queues the close.
   */
  async supersede(host: string, moved: readonly RemoteSession[]): Promise<void> {
    for (const r of moved) if (await this.drop(r.connId)) await this.commands.enqueue('close-session', host, r.connId, this.clock.now());
  }

  /**
   * Registers a connection whose hello is being accepted, then returns the host's live connections on the
   * other instances (with the registrations of the same few ms when grouped).
   */
  open(s: LocalSession): Promise<RemoteSession[]> {
    return this.group ? this.group.submit(s) : this.openMany([s]).then((r) => r[0]!);
  }

  /**
   * Registers connections in one transaction, then reads their hosts' live connections on the other
   * instances, for each in the order given. The rows are committed before the read: of two hellos on two
   * instances at once, at least one finds the other.
   */
  async openMany(list: readonly LocalSession[]): Promise<RemoteSession[][]> {
    const now = this.clock.now();
    await this.sql.batch(
      'INSERT INTO live_sessions (conn_id, host, instance, boot_id, remote, opened_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (conn_id) DO NOTHING',
      list.map((s) => [s.connId, s.host, this.instance, s.bootId, s.remote, now]),
    );
    const byHost = await this.remoteOf([...new Set(list.map((s) => s.host))], now);
    return list.map((s) => byHost.get(s.host) ?? []);
  }

  /** The host's live connections on other instances whose lease is live at `now`, oldest first. */
  async elsewhere(host: string, now = this.clock.now()): Promise<RemoteSession[]> {
    return (await this.remoteOf([host], now)).get(host) ?? [];
  }

  /** {@link elsewhere} for several hosts in one read. */
  private async remoteOf(hosts: readonly string[], now: number): Promise<Map<string, RemoteSession[]>> {
    const rows = await this.sql.all<RemoteSession & { host: string }>(
      `SELECT s.host, s.conn_id AS "connId", s.instance, s.boot_id AS "bootId", s.remote, s.opened_at AS "openedAt"
       FROM live_sessions s JOIN instances i ON i.name = s.instance
       WHERE s.host IN (${hosts.map(() => '?').join(', ')}) AND s.instance != ? AND i.down_at IS NULL AND i.stopped_at IS NULL AND i.last_seen >= ?
       ORDER BY s.opened_at, s.conn_id`,
      [...hosts, this.instance, now - this.leaseTimeoutMs],
    );
    const byHost = new Map<string, RemoteSession[]>();
    for (const { host, ...r } of rows) byHost.set(host, [...(byHost.get(host) ?? []), r]);
    return byHost;
  }

  /**
   * Deletes a connection's row: at its close, or when a hello on another instance superseded it. Returns
   * whether this call deleted it (of two instances superseding one row, one does).
   */
  async drop(connId: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM live_sessions WHERE conn_id = ?', [connId])) === 1;
  }

  /** Deletes every row of an instance: declared down, or this instance at its start (its predecessor's) and stop. */
  dropInstance(instance: string): Promise<number> {
    return this.sql.run('DELETE FROM live_sessions WHERE instance = ?', [instance]);
  }

  /**
   * Deletes this instance's rows whose connection is no longer live here (`live`: whether it
   * holds, asked after the read: a connection opened meanwhile is live): a close whose delete failed (the disk
   * full, the database restarting) must not leave a row that calls the agent's next boot elsewhere a clone.
   * Returns how many it deleted.
   */
  async prune(live: (connId: string) => boolean): Promise<number> {
    const rows = await this.sql.all<{ connId: string }>('SELECT conn_id AS "connId" FROM live_sessions WHERE instance = ?', [this.instance]);
    let n = 0;
    for (const r of rows) if (!live(r.connId)) n += (await this.drop(r.connId)) ? 1 : 0;
    return n;
  }
}
