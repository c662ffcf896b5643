import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { serverError } from '../errors.ts';

/** Files inside a server data dir. */
export interface DataDirPaths {
  dir: string;
  caKey: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
  database: string;
  config: string;
}

/** Returns the paths of a data dir's files. */
export function dataDirPaths(dir: string): DataDirPaths {
  return {
    dir,
    caKey: join(dir, 'ca.key'),
    caCert: join(dir, 'ca.crt'),
    serverKey: join(dir, 'server.key'),
    serverCert: join(dir, 'server.crt'),
    database: join(dir, 'tripwarden.db'),
    config: join(dir, 'server.yml'),
  };
}

/**
 * Returns the paths of an initialised data dir, or throws telling how to make one. A dir made by
 * `init --join` has no database of its own (its `server.yml` names the first dir's), only its config.
 */
export function openDataDir(dir: string): DataDirPaths {
  const p = dataDirPaths(dir);
  if (!existsSync(p.caCert) || !(existsSync(p.database) || existsSync(p.config))) {
    throw serverError('TW_DATA_DIR_MISSING', `${dir} is not a Tripwarden data dir`);
  }
  return p;
}

/**
 * Where a data dir stores: its own SQLite file, the one `database` in its `server.yml` names (shared with
 * another instance on this host), or the PostgreSQL URL it names (shared by instances anywhere).
 * @throws TwError TW_DATA_DIR_MISSING when the named file is gone.
 */
export function databaseFile(p: DataDirPaths, database: string | undefined): string {
  if (database === undefined) return p.database;
  // Not isPostgresUrl (open-db.ts): that would load the PostgreSQL driver for every command.
  if (/^postgres(ql)?:\/\//.test(database)) return database;
  if (!existsSync(database)) throw serverError('TW_DATA_DIR_MISSING', `${p.config} names database ${database}, which does not exist`);
  return database;
}
