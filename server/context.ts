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
import { type Db, openDatabase } from './storage/db.ts';
import type { SqlDb } from './storage/engine.ts';
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
   * The SQLite handle the stores not yet on {@link sql} still use synchronously (the same connection as
   * `sql`). Goes away once every store runs on `sql`, which is what makes PostgreSQL possible.
   */
  db: Db;
  /** The store's async API (engine.ts): SQLite here, PostgreSQL once every store runs on it. */
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
  close(): void;
}

/**
 * Opens an initialised data dir (migrating its database) for a command or for `serve`.
 * @param log where the stores report what they carry on past (the liveness sweep's failing host).
 */
/** `floodLimits`: the per-host alarm limits (a benchmark that opens hundreds of alarms on purpose raises them). */
export function openServerContext(dir: string, clock: Clock, log?: Logger, floodLimits?: FloodLimits): ServerContext {
  const paths = openDataDir(dir);
  const config = loadServerConfig(paths.config);
  const db = openDatabase(databaseFile(paths, config.database));
  const sql = new SqliteDb(db);
  const alarms = new AlarmStore(db, floodLimits);
  const hosts = new HostStore(db);
  const baselines = new BaselineStore(db, alarms, new GroupPeers(db));
  const rollup = new HeartbeatRollup(db, clock);
  const checkers = new CheckerStore(db);
  const checkerResults = new CheckerResults(db, checkers, alarms, (log ?? silentLogger()).child({ component: 'checkers' }));
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
    ledger: new EventLedger(db, alarms, baselines, checkerResults),
    checkers,
    checkerResults,
    liveness: new Liveness(db, { alarms, hosts, rollup }, clock, {
      graceMs: config.grace,
      maxIntervalMs: config.maxInterval,
      log: log?.child({ component: 'liveness' }),
      instance: config.instance,
    }),
    commands: new CommandQueue(db),
    close: () => {
      sql.close().catch(() => {});
    },
  };
}
