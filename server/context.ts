import type { Clock } from '../shared/clock.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import type { FloodLimits } from './alarms/alarm-flood.ts';
import { AlarmStore } from './alarms/alarm-store.ts';
import { BaselineStore } from './baselines/baseline-store.ts';
import { EventLedger } from './baselines/event-ledger.ts';
import { CheckerResults } from './checkers/checker-results.ts';
import { CheckerStore } from './checkers/checker-store.ts';
import { loadServerConfig, type ServerConfig } from './config.ts';
import { GroupPeers } from './fleet/fleet-peers.ts';
import { HeartbeatRollup } from './liveness/heartbeat-rollup.ts';
import { HostStore } from './liveness/host-store.ts';
import { Liveness } from './liveness/liveness.ts';
import { CommandQueue } from './storage/command-queue.ts';
import { type DataDirPaths, databaseFile, openDataDir } from './storage/data-dir.ts';
import type { Db } from './storage/db.ts';
import type { SqlDb } from './storage/engine.ts';
import { PG_MIGRATIONS } from './storage/migrations/index.ts';
import { openSqlDb } from './storage/open-db.ts';
import { SqliteDb } from './storage/sqlite-engine.ts';

/**
 * Everything a server command needs from a data dir: config, database and the stores over it. The stores are
 * made here and only here (one of each per database, passed to whoever needs them): they hold prepared
 * statements, and one set per agent session was about 55 KB of RSS each at 10,000 agents.
 */
export interface ServerContext {
  paths: DataDirPaths;
  config: ServerConfig;
  /**
   * The raw SQLite handle (the same connection as `sql`), for what reads SQLite itself; null on PostgreSQL.
   * Goes away once nothing reads it.
   */
  db: Db | null;
  /** The store's async API (engine.ts): the SQLite file, or PostgreSQL when `database` in server.yml is a URL. */
  sql: SqlDb;
  alarms: AlarmStore;
  hosts: HostStore;
  liveness: Liveness;
  /** Heartbeats per host and minute (the dashboard's bar, the report): count, flush, compact, prune. */
  rollup: HeartbeatRollup;
  /** Baselines and the changes judged against them. */
  baselines: BaselineStore;
  /** The agents' spooled records (events) and their chain heads. */
  ledger: EventLedger;
  commands: CommandQueue;
  /** Checker runs (AIDE, Tripwire) and what each host declared. */
  checkers: CheckerStore;
  /** What checker records do: output, results, their alarms, and `accept` of findings. */
  checkerResults: CheckerResults;
  clock: Clock;
  /** Closes the store (on PostgreSQL, ends the pool: await it before the process should exit). */
  close(): Promise<void>;
}

/**
 * Opens an initialised data dir (migrating its database) for a command or for `serve`. A PostgreSQL database
 * connects and migrates before its first statement: await `sql.ready()` to fail fast when it is unreachable.
 * @param log where the stores report what they carry on past (the liveness sweep's failing host).
 */
/** `floodLimits`: the per-host alarm limits (a benchmark that opens hundreds of alarms on purpose raises them). */
export function openServerContext(dir: string, clock: Clock, log?: Logger, floodLimits?: FloodLimits): ServerContext {
  const paths = openDataDir(dir);
  const config = loadServerConfig(paths.config);
  const sql = openSqlDb(databaseFile(paths, config.database), PG_MIGRATIONS, log?.child({ component: 'db' }));
  const db = sql instanceof SqliteDb ? sql.handle : null;
  const alarms = new AlarmStore(sql, floodLimits);
  const hosts = new HostStore(sql);
  const baselines = new BaselineStore(sql, alarms, new GroupPeers(sql));
  const rollup = new HeartbeatRollup(sql, clock);
  const checkers = new CheckerStore(sql);
  const checkerResults = new CheckerResults(sql, checkers, alarms, (log ?? silentLogger()).child({ component: 'checkers' }));
  return {
    paths,
    config,
    db,
    sql,
    alarms,
    hosts,
    baselines,
    rollup,
    clock,
    ledger: new EventLedger(sql, alarms, baselines, checkerResults),
    checkers,
    checkerResults,
    liveness: new Liveness(sql, { alarms, hosts, rollup }, clock, {
      graceMs: config.grace,
      maxIntervalMs: config.maxInterval,
      log: log?.child({ component: 'liveness' }),
      instance: config.instance,
    }),
    commands: new CommandQueue(sql),
    close: () => sql.close(),
  };
}
