import type { Clock } from '../shared/clock.ts';
import { AlarmStore } from './alarms/alarm-store.ts';
import { CommandQueue } from './storage/command-queue.ts';
import { loadServerConfig, type ServerConfig } from './config.ts';
import { openDataDir, type DataDirPaths } from './storage/data-dir.ts';
import { openDatabase, type Db } from './storage/db.ts';
import { HostStore } from './liveness/host-store.ts';
import { Liveness } from './liveness/liveness.ts';

/** Everything a server command needs from a data dir: config, database and the stores over it. */
export interface ServerContext {
  paths: DataDirPaths;
  config: ServerConfig;
  db: Db;
  alarms: AlarmStore;
  hosts: HostStore;
  liveness: Liveness;
  commands: CommandQueue;
  clock: Clock;
  close(): void;
}

/** Opens an initialised data dir (migrating its database) for a command or for `serve`. */
export function openServerContext(dir: string, clock: Clock): ServerContext {
  const paths = openDataDir(dir);
  const config = loadServerConfig(paths.config);
  const db = openDatabase(paths.database);
  const alarms = new AlarmStore(db);
  return {
    paths, config, db, alarms, clock,
    hosts: new HostStore(db),
    liveness: new Liveness(db, alarms, clock, { graceMs: config.grace, maxIntervalMs: config.maxInterval }),
    commands: new CommandQueue(db),
    close: () => db.close(),
  };
}
